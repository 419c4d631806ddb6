"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

The session starts the embedded PostgreSQL (or uses `CONSENT_TEST_DATABASE_URL`,
an admin URL of an external server), migrates a template database once, and
gives every test its own copy (`CREATE DATABASE ... TEMPLATE`, a file copy that
takes milliseconds), so tests never share state and never see a mock.

As in production, the service runs as a role of least privilege: `database_url`
and `conn` log in as a member of `consent_service`; `owner_url` is the superuser
that owns the schema (for what only an owner or an attacker with more rights does).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api.app import create_app
from consent.config import Settings, load_settings
from consent.runtime import Runtime, running
from consent.service.api_keys.issuing import CreatedKey, Scope, create_key
from consent.store.embedded import EmbeddedPostgres
from consent.store.migrate import apply_migrations
from consent.store.pool import Connection, connect
from consent.store.roles import ensure_service_login
from tests.helpers import MakeKey, keep_exports_waiting, with_database, with_user

TEMPLATE = "consent_template"
# The service's login role in tests (a member of consent_service, like `consent_app` in embedded mode).
SERVICE_USER, SERVICE_PASSWORD = "consent_test_service", "test-only-password"
_counter = itertools.count()


async def _prepare_server(admin_url: str, *, tune: bool) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if tune:
            # Tests need no durability; skipping fsync makes CREATE DATABASE and commits cheap.
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                await conn.execute(f"ALTER SYSTEM SET {setting}")
            await conn.execute("SELECT pg_reload_conf()")
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        await ensure_service_login(conn, SERVICE_USER, password=SERVICE_PASSWORD)
    finally:
        await conn.close()
    template = await connect(with_database(admin_url, TEMPLATE))
    try:
        await apply_migrations(template)
    finally:
        await template.close()


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser URL of the session's PostgreSQL server, with the migrated template ready."""
    external = os.environ.get("CONSENT_TEST_DATABASE_URL")
    if external:
        asyncio.run(_prepare_server(external, tune=False))
        yield external
        return
    server = EmbeddedPostgres.start(tmp_path_factory.mktemp("pg"))
    url = server.url("postgres")
    asyncio.run(_prepare_server(url, tune=True))
    yield url
    server.stop()


@pytest.fixture
async def owner_url(admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test alone, as the superuser that owns its schema."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    finally:
        await conn.close()
    yield with_database(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def database_url(owner_url: str) -> str:
    """The test's database as the service's role: rows only, no DDL, the audit trail insert-only."""
    return with_user(owner_url, SERVICE_USER, SERVICE_PASSWORD)


@pytest.fixture
async def owner_conn(owner_url: str) -> AsyncIterator[Connection]:
    connection = await connect(owner_url)
    yield connection
    await connection.close()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[Connection]:
    connection = await connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Development, said explicitly: without CONSENT_ENV the service runs as production.
    return load_settings(
        {"CONSENT_ENV": "development"},
        database_url=database_url,
        home=str(tmp_path / "home"),
        audit_seal_interval_ms=20,
    )


@pytest.fixture
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    """The service's per-process state, started as a worker starts it (without HTTP)."""
    async with running(settings, database_url) as started:
        yield started


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def exports_held(client: AsyncTestClient[Litestar]) -> None:
    """Access and portability requests wait in progress (no export is built): for tests of the
    workflow's own rules, which need an open request."""
    keep_exports_waiting(client.app.state.runtime)


@pytest.fixture
def make_key(conn: Connection) -> MakeKey:
    """Create an API key: `await make_key(Scope.CHECK)`, or with `origins=[...]` for collect."""

    async def make(scope: Scope, *, origins: list[str] | None = None, name: str = "test") -> CreatedKey:
        if scope is Scope.COLLECT and origins is None:
            origins = ["https://shop.example"]
        return await create_key(conn, name=name, scope=scope, origins=origins or [], actor="test")

    return make
