"""SQL for `api_keys`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from consent.store.pool import Connection, Pool

__all__ = ["active_collect_origins", "fetch_by_hash", "insert", "list_all", "revoke"]

_COLUMNS = "id, name, scope, origins, token_prefix, created_at, revoked_at"


async def insert(
    conn: Connection,
    *,
    key_id: UUID,
    name: str,
    scope: str,
    origins: list[str],
    token_hash: bytes,
    token_prefix: str,
    created_at: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"INSERT INTO api_keys (id, name, scope, origins, token_hash, token_prefix, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
        key_id,
        name,
        scope,
        origins,
        token_hash,
        token_prefix,
        created_at,
    )
    assert row is not None
    return row


async def fetch_by_hash(conn: Connection | Pool, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE token_hash = $1", token_hash)


async def list_all(conn: Connection | Pool) -> list[asyncpg.Record]:
    return list(await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id"))


async def revoke(conn: Connection, key_id: UUID, at: datetime) -> asyncpg.Record | None:
    """Revoke a key; None if it does not exist. Revoking twice keeps the first time."""
    return await conn.fetchrow(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING {_COLUMNS}",
        key_id,
        at,
    )


async def active_collect_origins(conn: Connection | Pool) -> set[str]:
    """Every origin some unrevoked publishable key may be used from (for CORS preflights)."""
    rows = await conn.fetch(
        "SELECT DISTINCT unnest(origins) AS origin FROM api_keys WHERE scope = 'collect' AND revoked_at IS NULL"
    )
    return {row["origin"] for row in rows}
