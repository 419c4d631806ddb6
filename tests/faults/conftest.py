"""Fixtures of the fault suite: a service started as its own process, and the figures printed at the end."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests import processes
from tests.faults.figures import FIGURES


@pytest.fixture
def rng() -> random.Random:
    """The random moments of this test; `FAULTS_SEED` replays a run (the seed is in the test's output)."""
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"FAULTS_SEED={seed}")
    return random.Random(seed)  # noqa: S311 - moments to inject faults at, not secrets


def service_env(home: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of `consent serve` and the CLI on `database_url`, with development keys under `home`."""
    # Every process (servers and CLI alike) must read the same key files: made before any starts.
    return processes.service_env(database_url, home, **settings)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES.requests or FIGURES.faults:
        terminalreporter.write_sep("=", "fault suite figures (docs/reliability.md)")
        for line in FIGURES.lines():
            terminalreporter.write_line(line)
