"""The service's sessions: the settings every connection gets, whatever the server's defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from consent.store.pool import Connection, connect, create_pool


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
