import asyncio
import os
import sys

import asyncpg
import pytest

from consent.store.migrate import (
    Migration,
    MigrationError,
    apply_migrations,
    discover_migrations,
    pending_migrations,
)
from consent.store.pool import Connection, connect
from tests.helpers import with_database


@pytest.fixture
async def empty_database_url(admin_url: str) -> str:
    name = f"empty_{os.getpid()}_{id(object())}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


def test_shipped_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in discover_migrations()]
    assert versions == sorted(versions)
    assert versions[0] == 1


async def test_a_migrated_database_has_nothing_pending(conn: Connection) -> None:
    assert await pending_migrations(conn) == []
    assert await apply_migrations(conn) == []


async def test_an_edited_migration_is_refused(conn: Connection) -> None:
    edited = [
        Migration(version=m.version, name=m.name, sql=m.sql + "\n-- edited") if m.version == 1 else m
        for m in discover_migrations()
    ]
    with pytest.raises(MigrationError, match="has changed since it was applied"):
        await pending_migrations(conn, edited)
    with pytest.raises(MigrationError):
        await apply_migrations(conn, edited)


async def test_a_database_ahead_of_the_code_is_refused(conn: Connection) -> None:
    with pytest.raises(MigrationError, match="does not know"):
        await pending_migrations(conn, discover_migrations()[:-1] if len(discover_migrations()) > 1 else [])


async def test_a_failing_migration_leaves_nothing_behind(empty_database_url: str) -> None:
    broken = [Migration(version=1, name="broken", sql="CREATE TABLE t (x int); SELECT 1/0;")]
    conn = await connect(empty_database_url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await apply_migrations(conn, broken)
        assert await conn.fetchval("SELECT to_regclass('t')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    finally:
        await conn.close()


async def test_two_concurrent_migrate_commands_apply_each_migration_once(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "consent", "migrate", env=env, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [(await asyncio.wait_for(run.communicate(), 60))[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    conn = await connect(empty_database_url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in rows] == [m.version for m in discover_migrations()]
    assert sum("applied migrations" in out for out in outputs) == 1
