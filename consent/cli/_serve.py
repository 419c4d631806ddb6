"""`consent serve` and `consent migrate`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator

import click

from consent.cli._context import databases, fail, load, run_with_connection, say
from consent.cli._demo import ensure_demo_keys
from consent.config import ConfigError, Environment, Settings
from consent.key_material import load_key_material
from consent.logs import SERVER_LOG_CONFIG
from consent.service.connection_budget import check_connection_budget, connection_budget, replica_connection_budget
from consent.service.policy_versions import ensure_policy
from consent.store.migrate import MigrationError, apply_migrations
from consent.store.pool import Connection, DatabaseError, connect, server_connections
from policies import PolicyInvalid

__all__ = ["WORKER_KILL_TIMEOUT", "migrate", "serve"]

# Seconds a worker has to stop once told to, before it is killed. A worker still in its start-up
# when it is told to stop twice (Ctrl-C reaches the whole process group with SIGINT, then granian
# itself sends SIGTERM) blocks for good in granian 2.8's signal handler: the second
# `WorkerSignal.set()` before the worker serves never returns, and without a limit the server waits
# for it forever. A normal stop takes well under this (job runner grace 5 s, pending writes).
WORKER_KILL_TIMEOUT = 20


async def _migrate(conn: Connection, settings: Settings) -> list[int]:
    """Apply migrations; a fresh database also gets its first policy (the configured or bundled one)."""
    try:
        applied = await apply_migrations(conn)
    except MigrationError as exc:
        fail(str(exc))
    try:
        await ensure_policy(conn, policy_file=settings.policy_file)
    except PolicyInvalid as exc:
        fail(str(exc))
    return applied


@click.command()
def migrate() -> None:
    """Apply pending schema migrations (safe to run from several machines at once)."""
    settings = load()
    applied = run_with_connection(settings, lambda conn: _migrate(conn, settings), owner=True)
    say(f"applied migrations: {', '.join(map(str, applied))}" if applied else "migrations are up to date")


def _prepare(settings: Settings, owner_url: str) -> dict[str, str]:
    """Check the connection budget, migrate (as the schema's owner, directly on the server: behind
    PgBouncer, migrations hold a session's advisory lock), and in development make sure demo keys
    exist; returns the demo tokens."""

    async def work() -> dict[str, str]:
        conn = await connect(owner_url)
        try:
            try:
                check_connection_budget(connection_budget(settings), await server_connections(conn))
            except ConfigError as exc:
                fail(f"connection budget: {exc}")
            await _check_replica_budget(settings)
            applied = await _migrate(conn, settings)
            if applied:
                say(f"applied migrations: {', '.join(map(str, applied))}")
            if settings.env is Environment.DEVELOPMENT and settings.demo_data:
                return await ensure_demo_keys(conn, settings)
            return {}
        finally:
            await conn.close()

    return asyncio.run(work())


async def _check_replica_budget(settings: Settings) -> None:
    """The replica's own `max_connections` must fit its share too; a replica out of reach now is not
    checked (the service starts and reads from the primary until it is back)."""
    if settings.database_replica_url is None:
        return
    try:
        replica = await connect(settings.database_replica_url, connect_timeout=2.0)
    except (OSError, DatabaseError):
        say("read replica (DATABASE_REPLICA_URL) out of reach: reads go to the primary until it answers")
        return
    try:
        check_connection_budget(replica_connection_budget(settings), await server_connections(replica))
    except ConfigError as exc:
        fail(f"replica connection budget (DATABASE_REPLICA_URL): {exc}")
    finally:
        await replica.close()


def _banner(settings: Settings, demo_keys: dict[str, str]) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        f"  Consent service on {base}  ({settings.worker_count} workers, {settings.env.value})",
        f"    API docs     {base}/schema",
        f"    health       {base}/health   readiness {base}/ready   metrics {base}/metrics",
    ]
    if demo_keys:
        lines.append("    demo API keys (development only; stored in " + str(settings.home / "demo-keys.json") + "):")
        lines += [f"      {scope:<8} {token}" for scope, token in demo_keys.items()]
        lines.append(f"    try: curl -H 'Authorization: Bearer {demo_keys.get('admin', '')}' {base}/v1/whoami")
        lines.append(f"    demo shop    {base}/demo   (日本語: {base}/demo/ja)")
    lines += [
        "  Ctrl-C stops the service" + (" and the embedded database." if settings.embedded_database else "."),
        "",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _metrics_directory() -> Iterator[None]:
    """Workers share Prometheus values through files; a fresh directory per run, removed after."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="consent-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


@click.command()
@click.option("--host", help="Address to listen on [CONSENT_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [CONSENT_PORT, default 8000].")
@click.option("--workers", type=int, help="Worker processes [CONSENT_WORKERS, default one per core].")
@click.option("--demo/--no-demo", default=None, help="Create demo API keys on first start (development only).")
def serve(host: str | None, port: int | None, workers: int | None, demo: bool | None) -> None:
    """Run the HTTP service (migrating first), on the embedded PostgreSQL unless DATABASE_URL is set."""
    # Imported here: every other command starts faster without the server.
    from granian import Granian  # noqa: PLC0415
    from granian.constants import Interfaces, Loops  # noqa: PLC0415

    settings = load(host=host, port=port, workers=workers, demo_data=demo)
    try:
        # Read (in development: create) the keys once here, so that workers only read them.
        load_key_material(settings, announce=say)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    with databases(settings, announce=True) as found:
        demo_keys = _prepare(settings, found.owner)
        # Workers read their settings from the environment; hand them the resolved database, as
        # the service's role: they never need the owner's.
        os.environ["DATABASE_URL"] = found.service
        os.environ.pop("DATABASE_OWNER_URL", None)
        click.echo(_banner(settings, demo_keys))
        with _metrics_directory():
            Granian(
                "consent.api.app:asgi_app",
                factory=True,
                address=settings.host,
                port=settings.port,
                interface=Interfaces.ASGI,
                workers=settings.worker_count,
                loop=Loops.uvloop,
                log_access=False,
                log_dictconfig=SERVER_LOG_CONFIG,
                backlog=2048,
                workers_kill_timeout=WORKER_KILL_TIMEOUT,
            ).serve()
