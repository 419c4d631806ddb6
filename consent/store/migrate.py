"""Schema migrations: numbered plain SQL files applied in order, each in its own transaction.

Files live in `consent/store/migrations/` as `NNNN_name.sql`. Each applied file
is recorded with its SHA-256; the service refuses to start when a recorded
file has changed since (a landed migration is never edited). A session-level
advisory lock makes concurrent `consent migrate` runs apply each file once.

>>> applied = await apply_migrations(conn)
[1, 2]
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import msgspec

from consent.store.pool import Connection

__all__ = ["Migration", "MigrationError", "apply_migrations", "discover_migrations", "pending_migrations"]

# Any constant works; it only has to differ from the other advisory locks we take.
_LOCK_KEY = 0x636F6E73656E74  # "consent"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The database's migrations do not match the files shipped with this version."""


class Migration(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_migrations(package: str = "consent.store.migrations") -> list[Migration]:
    """The migration files shipped in `package`, in version order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(version=int(match[1]), name=match[2], sql=entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def _applied(conn: Connection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _check_unchanged(migrations: list[Migration], applied: dict[int, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql has changed since it was applied; "
                "landed migrations must never be edited"
            )
    unknown = sorted(set(applied) - {m.version for m in migrations})
    if unknown:
        raise MigrationError(f"the database has migrations this version does not know: {unknown}")


async def pending_migrations(conn: Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Migrations not yet applied; raises MigrationError if an applied file changed."""
    migrations = discover_migrations() if migrations is None else migrations
    applied = await _applied(conn)
    _check_unchanged(migrations, applied)
    return [m for m in migrations if m.version not in applied]


async def apply_migrations(conn: Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every pending migration in order; returns the versions this call applied."""
    migrations = discover_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        # Only when missing: a role without CREATE (the service's) still checks an up-to-date schema.
        if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            await conn.execute(_CREATE_TABLE)
        done = []
        for migration in await pending_migrations(conn, migrations):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
