"""SQL for `policy_versions`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from consent.store.pool import Connection, Pool

__all__ = ["PolicyVersionRow", "StoredPolicyVersion", "activate_new_version", "fetch_active", "list_versions", "lock"]


class PolicyVersionRow(msgspec.Struct, kw_only=True, frozen=True):
    """One applied policy version, without its text."""

    version: int
    digest: str
    source: str
    applied_at: datetime
    applied_by: str
    active: bool


class StoredPolicyVersion(PolicyVersionRow, kw_only=True, frozen=True):
    """One applied policy version with its text (the TOML it was applied from)."""

    document: str


_LISTED = ", ".join(PolicyVersionRow.__struct_fields__)
_COLUMNS = ", ".join(StoredPolicyVersion.__struct_fields__)


async def lock(conn: Connection) -> None:
    """Serialise appliers until commit: versions stay dense, exactly one is active, no duplicates."""
    await conn.execute("LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE")


async def fetch_active(conn: Connection | Pool) -> StoredPolicyVersion | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM policy_versions WHERE active")
    return None if row is None else StoredPolicyVersion(**dict(row.items()))


async def list_versions(conn: Connection | Pool) -> list[PolicyVersionRow]:
    rows = await conn.fetch(f"SELECT {_LISTED} FROM policy_versions ORDER BY version")
    return [PolicyVersionRow(**dict(row.items())) for row in rows]


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
