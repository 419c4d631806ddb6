"""What every CLI command needs: settings, a database, and clean one-line failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import NoReturn, TypeVar

import asyncpg
import click
import msgspec

from consent.config import ConfigError, Settings, load_settings
from consent.store.embedded import EmbeddedPostgres
from consent.store.pool import Connection, connect
from consent.store.roles import EMBEDDED_SERVICE_USER, ensure_service_login

__all__ = ["CLI_ACTOR", "Databases", "database_url", "databases", "fail", "load", "run_with_connection", "say"]

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
        await ensure_service_login(conn, EMBEDDED_SERVICE_USER)
    finally:
        await conn.close()


class Databases(msgspec.Struct, kw_only=True, frozen=True):
    """The same database as the service's role (rows only) and as the schema's owner (migrations)."""

    service: str
    owner: str


@contextlib.contextmanager
def databases(settings: Settings, *, announce: bool = False) -> Iterator[Databases]:
    """DATABASE_URL (and DATABASE_OWNER_URL, default DATABASE_SESSION_URL or DATABASE_URL: migrations
    need a session, which PgBouncer in transaction mode does not keep), or the embedded server,
    started and stopped after: its superuser owns the schema, the service logs in as `consent_app`."""
    if settings.database_url:
        owner = settings.database_owner_url or settings.database_session_url or settings.database_url
        yield Databases(service=settings.database_url, owner=owner)
        return
    if announce:
        say(f"starting the embedded PostgreSQL in {settings.home / 'pgdata'}")
    embedded = EmbeddedPostgres.start(settings.home)
    try:
        asyncio.run(_ensure_database(embedded.url("postgres"), _DATABASE))
        yield Databases(service=embedded.url(_DATABASE, user=EMBEDDED_SERVICE_USER), owner=embedded.url(_DATABASE))
    finally:
        embedded.stop()


@contextlib.contextmanager
def database_url(settings: Settings, *, owner: bool = False) -> Iterator[str]:
    """The URL of the service's role (or with `owner`, of the schema's owner) on the configured database."""
    with databases(settings) as found:
        yield found.owner if owner else found.service


def run_with_connection(settings: Settings, work: Callable[[Connection], Awaitable[T]], *, owner: bool = False) -> T:
    """Run `work(conn)` on one connection to the configured database (as its owner with `owner`): a
    direct session to the server when DATABASE_URL is PgBouncer's (migrations hold an advisory lock
    for the session)."""

    async def main(url: str) -> T:
        conn = await connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    with database_url(settings, owner=owner) as url:
        try:
            return asyncio.run(main(url if owner else (settings.database_session_url or url)))
        except (OSError, asyncpg.PostgresError) as exc:
            # No personal value is ever stored in plaintext, so a database message cannot quote one.
            fail(f"database error: {type(exc).__name__}: {exc}")
