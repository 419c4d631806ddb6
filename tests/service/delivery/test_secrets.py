"""Recipients' secrets: a production service does not start without them; development says so."""

from __future__ import annotations

import logging

import msgspec
import pytest

from consent.config import ConfigError, Environment, Settings
from consent.runtime import running
from consent.service.delivery import RecipientSecrets, check_recipient_secrets
from consent.service.policy_versions import bundled_policy
from crypto import generate_master_key_entry, generate_signing_key_entry
from policies import Policy, parse_policy

VARIABLES = (
    "CONSENT_RECIPIENT_AD_PARTNER_SECRET",
    "CONSENT_RECIPIENT_ANALYTICS_SECRET",
    "CONSENT_RECIPIENT_MAILER_SECRET",
    "CONSENT_RECIPIENT_RECOMMENDATIONS_SECRET",
)


def load_bundled_policy() -> Policy:
    text, source = bundled_policy()
    return parse_policy(text, source=source)


def production(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        env=Environment.PRODUCTION,
        master_keys=generate_master_key_entry(1),
        index_key="MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        signing_keys="k1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        audit_keys=generate_signing_key_entry("audit-1"),
    )


async def test_production_refuses_to_start_while_a_recipient_has_no_secret(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in VARIABLES:
        monkeypatch.setenv(variable, "s3cret-value")
    monkeypatch.delenv("CONSENT_RECIPIENT_MAILER_SECRET")
    with pytest.raises(ConfigError, match="CONSENT_RECIPIENT_MAILER_SECRET") as refused:
        async with running(production(settings), database_url):
            pass
    assert "s3cret-value" not in str(refused.value)
    assert "ANALYTICS" not in str(refused.value)


async def test_production_starts_once_every_secret_is_set(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in VARIABLES:
        monkeypatch.setenv(variable, "s3cret-value")
    async with running(production(settings), database_url) as runtime:
        assert runtime.settings.env is Environment.PRODUCTION


def test_development_logs_each_missing_variable_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        check_recipient_secrets(load_bundled_policy(), RecipientSecrets({}), Environment.DEVELOPMENT)
    assert [variable for variable in VARIABLES if variable in caplog.text] == list(VARIABLES)


def test_an_empty_variable_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="CONSENT_RECIPIENT_ANALYTICS_SECRET"):
        check_recipient_secrets(
            load_bundled_policy(),
            RecipientSecrets(dict.fromkeys(VARIABLES, "x") | {"CONSENT_RECIPIENT_ANALYTICS_SECRET": ""}),
            Environment.PRODUCTION,
        )
