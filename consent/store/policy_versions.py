"""SQL for `policy_versions`."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from consent.store.pool import Connection, Pool

__all__ = ["activate_new_version", "fetch_active", "fetch_version", "list_versions", "lock"]

_COLUMNS = "version, digest, source, document, applied_at, applied_by, active"


async def lock(conn: Connection) -> None:
    """Serialise appliers until commit: versions stay dense, exactly one is active, no duplicates."""
    await conn.execute("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")


async def fetch_active(conn: Connection | Pool) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM policy_versions WHERE active")


async def fetch_version(conn: Connection | Pool, version: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM policy_versions WHERE version = $1", version)


async def list_versions(conn: Connection | Pool) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT version, digest, source, applied_at, applied_by, active FROM policy_versions ORDER BY version"
        )
    )


async def activate_new_version(
    conn: Connection, *, digest: str, source: str, document: str, applied_at: datetime, applied_by: str
) -> int:
    """Record a new version and make it the active one (caller's transaction, after `lock`)."""
    await conn.execute("UPDATE policy_versions SET active = false WHERE active")
    version: int = await conn.fetchval(
        """
        INSERT INTO policy_versions (version, digest, source, document, applied_at, applied_by, active)
        SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4, $5, true FROM policy_versions
        RETURNING version
        """,
        digest,
        source,
        document,
        applied_at,
        applied_by,
    )
    return version
