"""What every CLI command needs: settings, a database, and clean one-line failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import NoReturn, TypeVar

import asyncpg
import click

from consent.config import ConfigError, Settings, load_settings
from consent.store.embedded import EmbeddedPostgres
from consent.store.pool import Connection, connect

__all__ = ["CLI_ACTOR", "database_url", "fail", "load", "run_with_connection", "say"]

T = TypeVar("T")

# Audit entries written from the CLI name the operator's tool, not a person.
CLI_ACTOR = "cli"
_DATABASE = "consent"


def say(message: str) -> None:
    """A message for the operator (stderr, so stdout stays machine-readable)."""
    click.echo(message, err=True)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def load(**overrides: object) -> Settings:
    try:
        return load_settings(None, **overrides)
    except ConfigError as exc:
        fail(f"configuration: {exc}")


async def _ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@contextlib.contextmanager
def database_url(settings: Settings, *, announce: bool = False) -> Iterator[str]:
    """The database to use: DATABASE_URL, or the embedded server (started, and stopped after)."""
    if settings.database_url:
        yield settings.database_url
        return
    if announce:
        say(f"starting the embedded PostgreSQL in {settings.home / 'pgdata'}")
    embedded = EmbeddedPostgres.start(settings.home)
    try:
        asyncio.run(_ensure_database(embedded.url("postgres"), _DATABASE))
        yield embedded.url(_DATABASE)
    finally:
        embedded.stop()


def run_with_connection(settings: Settings, work: Callable[[Connection], Awaitable[T]]) -> T:
    """Run `work(conn)` on one connection to the configured database: a direct session to the server
    when DATABASE_URL is PgBouncer's (migrations hold an advisory lock for the session)."""

    async def main(url: str) -> T:
        conn = await connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    with database_url(settings) as url:
        try:
            return asyncio.run(main(settings.database_session_url or url))
        except (OSError, asyncpg.PostgresError) as exc:
            # No personal value is ever stored in plaintext, so a database message cannot quote one.
            fail(f"database error: {type(exc).__name__}: {exc}")
