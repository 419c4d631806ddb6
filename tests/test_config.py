from pathlib import Path

import pytest

from consent.config import ConfigError, Environment, load_settings


def test_defaults_suit_a_laptop() -> None:
    settings = load_settings({})
    assert settings.embedded_database
    assert settings.home == Path(".consent")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_body_bytes == 64 * 1024


def test_without_consent_env_the_service_is_production() -> None:
    # A deployment that forgets the variable must not make up keys of its own (docs/configuration.md).
    assert load_settings({}).env is Environment.PRODUCTION
    assert load_settings({"CONSENT_ENV": "development"}).env is Environment.DEVELOPMENT


def test_variables_are_decoded_from_text() -> None:
    settings = load_settings(
        {
            "CONSENT_PORT": "9000",
            "CONSENT_ENV": "production",
            "DATABASE_URL": "postgresql://db/x",
            "CONSENT_HOME": "/x",
        }
    )
    assert settings.port == 9000
    assert settings.env is Environment.PRODUCTION
    assert settings.database_url == "postgresql://db/x"
    assert settings.home == Path("/x")


def test_empty_variables_count_as_unset() -> None:
    assert load_settings({"CONSENT_PORT": ""}).port == 8000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CONSENT_PORT", "eighty"),
        ("CONSENT_PORT", "70000"),
        ("CONSENT_ENV", "staging"),
        ("CONSENT_WORKERS", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        load_settings({variable: value})


@pytest.mark.parametrize("proxies", ["10.0.0.1, 192.168.0.0/16", "2001:db8::1,2001:db8:1::/48", ""])
def test_trusted_proxies_are_addresses_or_networks(proxies: str) -> None:
    assert len(load_settings({"CONSENT_TRUSTED_PROXIES": proxies}).trusted_proxy_networks) == proxies.count(",") + (
        1 if proxies else 0
    )


def test_a_trusted_proxy_that_is_not_an_address_stops_the_start_up() -> None:
    with pytest.raises(ConfigError, match=r"^CONSENT_TRUSTED_PROXIES: "):
        load_settings({"CONSENT_TRUSTED_PROXIES": "proxy.example"})


def test_the_state_cache_is_sized_on_its_own_or_with_the_other_caches() -> None:
    assert load_settings({"CONSENT_CACHE_SIZE": "500"}).state_cache_entries == 500
    both = load_settings({"CONSENT_CACHE_SIZE": "500", "CONSENT_STATE_CACHE_SIZE": "50"})
    assert both.state_cache_entries == 50
    with pytest.raises(ConfigError, match=r"^CONSENT_STATE_CACHE_SIZE: value out of range$"):
        load_settings({"CONSENT_STATE_CACHE_SIZE": "-1"})


def test_the_session_url_says_the_database_url_is_a_transaction_pooler() -> None:
    assert not load_settings({"DATABASE_URL": "postgresql://db/consent"}).pooled
    behind = load_settings(
        {"DATABASE_URL": "postgresql://pgbouncer/consent", "DATABASE_SESSION_URL": "postgresql://db/consent"}
    )
    assert behind.pooled
    assert behind.database_session_url == "postgresql://db/consent"


def test_a_pool_no_larger_than_the_jobs_in_flight_stops_the_start_up() -> None:
    # A job holds a connection while its step takes another: four jobs on a pool of four waited for each
    # other forever, and with them every HTTP request (measured: the service stopped answering).
    with pytest.raises(ConfigError, match=r"^CONSENT_POOL_MAX_SIZE: must be greater than CONSENT_JOB_CONCURRENCY"):
        load_settings({"CONSENT_POOL_MAX_SIZE": "4", "CONSENT_JOB_CONCURRENCY": "4"})
    assert load_settings({"CONSENT_POOL_MAX_SIZE": "5", "CONSENT_JOB_CONCURRENCY": "4"}).pool_max_size == 5
