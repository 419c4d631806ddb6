"""`python -m consent` is the `consent` command."""

from consent.cli import main

main()
