"""The service's sessions: the settings every connection gets, whatever the server's defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from consent.ids import uuid7
from consent.store.pool import Connection, HeldConnections, connect, create_pool, database_unreachable
from tests.helpers import eventually


async def test_sessions_run_in_utc_even_where_the_database_defaults_to_another_zone(
    conn: Connection, database_url: str
) -> None:
    await conn.execute(
        f'ALTER DATABASE "{await conn.fetchval("SELECT current_database()")}" SET timezone = "Asia/Tokyo"'
    )
    plain = await asyncpg.connect(database_url)
    try:
        assert await plain.fetchval("SHOW TimeZone") == "Asia/Tokyo"  # what a session would get by default
    finally:
        await plain.close()
    naive = datetime(2026, 11, 23, 10, 0)  # a client's `client_at` may carry no offset
    pool = await create_pool(database_url, min_size=1, max_size=1)
    single = await connect(database_url)
    try:
        for session in (pool, single):
            assert await session.fetchval("SHOW TimeZone") == "UTC"
            # The batch write sends rows as JSON text: a timestamp without an offset is read as UTC,
            # as asyncpg's binary encoding reads it.
            from_json = await session.fetchval(
                "SELECT (r->>'t')::timestamptz FROM json_array_elements($1::json) r", [{"t": naive}]
            )
            assert from_json == naive.replace(tzinfo=UTC) == await session.fetchval("SELECT $1::timestamptz", naive)
    finally:
        await single.close()
        await pool.close()


async def test_held_connections_are_lent_again_kept_after_an_sql_error_and_replaced_when_broken(
    conn: Connection, database_url: str
) -> None:
    held = HeldConnections(database_url)
    try:
        async with held.lease() as first:
            pid = first.get_server_pid()
        async with held.lease() as again:
            assert again.get_server_pid() == pid  # one connection, lent again
        with pytest.raises(asyncpg.PostgresError):
            async with held.lease() as failing:
                await failing.execute("SELECT 1/0")
        async with held.lease() as after_error:
            assert after_error.get_server_pid() == pid  # an SQL error leaves the session usable
        async with held.lease() as broken:
            await conn.execute("SELECT pg_terminate_backend($1, 5000)", pid)  # returns once it is gone
            with pytest.raises(Exception):  # noqa: B017, PT011 - what asyncpg raises depends on when it notices
                await broken.fetchval("SELECT 1")
        async with held.lease() as fresh:
            assert fresh.get_server_pid() != pid
            assert await fresh.fetchval("SELECT 1") == 1
    finally:
        await held.close()


async def test_a_held_connection_the_server_ended_while_idle_is_replaced_before_it_is_lent(
    conn: Connection, database_url: str
) -> None:
    """After a database restart the first statement of each hot path succeeds: no error for a stale session."""
    held = HeldConnections(database_url)
    try:
        async with held.lease() as idle:
            pid = idle.get_server_pid()
        await conn.execute("SELECT pg_terminate_backend($1, 5000)", pid)
        await eventually(idle.is_closed)
        async with held.lease() as fresh:
            assert fresh.get_server_pid() != pid
            assert await fresh.fetchval("SELECT 1") == 1
    finally:
        await held.close()


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.DataError("invalid input"), False),
        (ValueError("a bug of ours"), False),
    ],
)
def test_an_unreachable_database_is_told_from_a_refused_statement(error: BaseException, outage: bool) -> None:
    assert database_unreachable(error) is outage


async def test_a_held_connection_left_in_a_transaction_is_closed_not_lent(database_url: str) -> None:
    held = HeldConnections(database_url)
    try:
        async with held.lease() as leaked:
            await leaked.execute("BEGIN")
        assert leaked.is_closed()
        async with held.lease() as fresh:
            assert not fresh.is_in_transaction()
    finally:
        await held.close()


async def test_closing_held_connections_closes_the_idle_ones_and_a_lent_one_when_it_comes_back(
    database_url: str,
) -> None:
    held = HeldConnections(database_url)
    async with held.lease() as first, held.lease() as second:
        pass  # both idle now
    async with held.lease() as lent:
        await held.close()
        idle = first if lent is second else second
        assert idle.is_closed()
        assert not lent.is_closed()
    assert lent.is_closed()


async def _scans(conn: Connection, table: str) -> tuple[int, int]:
    row = await conn.fetchrow("SELECT seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname = $1", table)
    assert row is not None
    return row["seq_scan"], row["idx_scan"] or 0


async def _add_identifiers(conn: Connection, count: int, *, analyze: bool) -> None:
    subjects = [uuid7() for _ in range(count)]
    await conn.execute("INSERT INTO subjects (id, created_at) SELECT unnest($1::uuid[]), now()", subjects)
    await conn.execute(
        "INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)"
        " SELECT 'device_id', decode(md5(s::text), 'hex'), s, '\\x00', now() FROM unnest($1::uuid[]) AS s",
        subjects,
    )
    if analyze:
        await conn.execute("ANALYZE subject_identifiers")


@pytest.mark.parametrize("lender", ["held connections", "the pool"])
async def test_connections_plan_again_once_their_plans_are_due_so_lookups_follow_the_tables_growth(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch, lender: str
) -> None:
    """A lookup by blind index first planned on a young table uses the index once the table has grown."""
    query = (
        "SELECT i.subject_id FROM subject_identifiers i"
        " JOIN unnest($1::text[], $2::bytea[]) AS w(kind, blind_index)"
        " ON i.kind = w.kind AND i.blind_index = w.blind_index"
    )
    held = HeldConnections(database_url)
    pool = await create_pool(database_url, min_size=1, max_size=1) if lender == "the pool" else None

    async def look_up() -> tuple[int, int]:
        """(sequential scans, index scans) of subject_identifiers by one lookup on a lent connection."""
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        before = await _scans(conn, "subject_identifiers")
        async with held.lease() if pool is None else pool.acquire() as lent:
            await lent.fetch(query, ["device_id"], [b"\x00" * 16])
            await lent.execute("SELECT pg_stat_force_next_flush()")
            await lent.execute("SELECT 1")
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        after = await _scans(conn, "subject_identifiers")
        return after[0] - before[0], after[1] - before[1]

    try:
        monkeypatch.setattr("consent.store.pool.PLAN_REFRESH_SECONDS", 3600.0)
        await _add_identifiers(conn, 20, analyze=True)
        assert await look_up() == (1, 0)  # planned on a young table: a sequential scan
        # Grown, as between two runs of autovacuum: no ANALYZE, so nothing invalidates the plan.
        await _add_identifiers(conn, 30_000, analyze=False)
        assert await look_up() == (1, 0)  # the cached plan still scans it all
        monkeypatch.setattr("consent.store.pool.PLAN_REFRESH_SECONDS", 0.0)
        if pool is not None:
            await look_up()  # a pool's connection drops its plans when it is given back
        assert await look_up() == (0, 1)  # planned again: the index
    finally:
        await held.close()
        if pool is not None:
            await pool.close()
