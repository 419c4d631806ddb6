"""The `consent` command line: run the service and operate it.

Results a script may capture (a new key's token, JSON reports) go to stdout;
messages for the operator go to stderr.
"""

from __future__ import annotations

import click

from consent.cli._api_keys import apikeys
from consent.cli._audit import audit
from consent.cli._erasures import erasures
from consent.cli._holds import holds
from consent.cli._keys import keys
from consent.cli._policies import policies
from consent.cli._requests import requests
from consent.cli._serve import migrate, serve

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="consent-service", prog_name="consent")
def main() -> None:
    """Privacy-first consent and data-governance service.

    Configuration comes from environment variables (CONSENT_*, DATABASE_URL);
    see docs/configuration.md. Without DATABASE_URL every command uses the
    embedded PostgreSQL under $CONSENT_HOME (default ./.consent).
    """


main.add_command(serve)
main.add_command(migrate)
main.add_command(apikeys)
main.add_command(audit)
main.add_command(erasures)
main.add_command(holds)
main.add_command(keys)
main.add_command(policies)
main.add_command(requests)
