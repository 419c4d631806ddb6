"""The operator's shell, shared by the CLI tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from consent.config import Settings


@pytest.fixture
def cli(database_url: str, settings: Settings) -> CliRunner:
    """Same database and `$CONSENT_HOME` (development key files) as `settings`.

    Development is said explicitly: without `CONSENT_ENV` the CLI, like the service, runs as production.
    """
    return CliRunner(
        env={"DATABASE_URL": database_url, "CONSENT_HOME": str(settings.home), "CONSENT_ENV": "development"}
    )
