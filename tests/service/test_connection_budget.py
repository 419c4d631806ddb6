"""The connection budget: what an instance holds, checked at start-up against the server's limits."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.config import ConfigError, Settings
from consent.service.connection_budget import check_connection_budget, connection_budget
from consent.store.pool import Connection, connect, server_connections


async def test_the_server_reports_its_limits_and_the_connections_it_holds(conn: Connection, database_url: str) -> None:
    before = await server_connections(conn)
    assert before.max_connections == int(await conn.fetchval("SHOW max_connections"))
    assert before.superuser_reserved_connections == int(await conn.fetchval("SHOW superuser_reserved_connections"))
    another = await connect(database_url)
    try:
        # Other tests' sessions come and go on the shared server: at least this one more is counted.
        assert (await server_connections(conn)).in_use >= 1
        assert (await server_connections(another)).in_use >= 1  # `conn`, seen from `another`
    finally:
        await another.close()


def test_each_worker_holds_its_pool_its_writer_its_cold_reads_its_receipts_and_a_listener(settings: Settings) -> None:
    budget = connection_budget(msgspec.structs.replace(settings, workers=3, pool_max_size=7, write_concurrency=5))
    assert budget.direct_per_worker == 7 + 5 + 2 + 1 + 1
    assert budget.total == 3 * 16


def test_behind_pgbouncer_only_the_listeners_reach_the_server_directly(settings: Settings) -> None:
    pooled = msgspec.structs.replace(settings, workers=4, database_session_url="postgresql://server/consent")
    assert connection_budget(pooled).total == 4


async def test_an_instance_that_does_not_fit_the_server_is_refused_naming_the_settings(
    conn: Connection, settings: Settings
) -> None:
    server = await server_connections(conn)
    fits = msgspec.structs.replace(
        settings, workers=1, pool_min_size=1, pool_max_size=2, job_concurrency=1, write_concurrency=1
    )
    check_connection_budget(connection_budget(fits), server)
    too_many = msgspec.structs.replace(
        fits, pool_max_size=server.available
    )  # plus writer, cold reads, receipts, listener
    with pytest.raises(ConfigError) as refused:
        check_connection_budget(connection_budget(too_many), server)
    message = str(refused.value)
    assert f"needs up to {server.available + 5} database connections" in message
    assert f"max_connections {server.max_connections}" in message
    assert "superuser_reserved_connections" in message
    for setting in ("CONSENT_WORKERS", "CONSENT_POOL_MAX_SIZE", "CONSENT_WRITE_CONCURRENCY", "DATABASE_SESSION_URL"):
        assert setting in message


async def test_behind_pgbouncer_too_many_workers_for_their_listeners_are_refused(
    conn: Connection, settings: Settings
) -> None:
    server = await server_connections(conn)
    pooled = msgspec.structs.replace(settings, database_session_url="postgresql://server/consent")
    check_connection_budget(connection_budget(msgspec.structs.replace(pooled, workers=1)), server)
    too_many = msgspec.structs.replace(pooled, workers=server.available + 1)
    with pytest.raises(ConfigError, match=r"raise max_connections on the server, or lower CONSENT_WORKERS$"):
        check_connection_budget(connection_budget(too_many), server)


def test_serve_refuses_to_start_when_its_connections_would_not_fit(database_url: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "CONSENT_HOME": str(tmp_path / "home"),
        "CONSENT_ENV": "development",
        "CONSENT_WORKERS": "2",
        "CONSENT_POOL_MAX_SIZE": "100000",
    }
    result = CliRunner(env=env).invoke(main, ["serve"])
    assert result.exit_code == 1, result.stderr
    needs = "connection budget: this instance needs up to 200010 database connections (2 workers x (100000 pool"
    assert needs in result.stderr
    assert "raise max_connections on the server" in result.stderr
