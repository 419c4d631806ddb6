"""SQL for `api_keys`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool, Record

__all__ = ["ApiKeyRow", "active_collect_origins", "fetch_by_hash", "insert", "list_all", "revoke"]


class ApiKeyRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of `api_keys`, without the token's hash."""

    id: UUID
    name: str
    scope: str
    origins: list[str]
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None


_COLUMNS = ", ".join(ApiKeyRow.__struct_fields__)


def _row(record: Record | None) -> ApiKeyRow | None:
    return None if record is None else ApiKeyRow(**dict(record.items()))


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
) -> ApiKeyRow:
    row = _row(
        await conn.fetchrow(
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
    )
    assert row is not None
    return row


async def fetch_by_hash(conn: Connection | Pool, token_hash: bytes) -> ApiKeyRow | None:
    return _row(await conn.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE token_hash = $1", token_hash))


async def list_all(conn: Connection | Pool) -> list[ApiKeyRow]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
    return [ApiKeyRow(**dict(row.items())) for row in rows]


async def revoke(conn: Connection, key_id: UUID, at: datetime) -> ApiKeyRow | None:
    """Revoke a key; None if it does not exist. Revoking twice keeps the first time."""
    return _row(
        await conn.fetchrow(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING {_COLUMNS}",
            key_id,
            at,
        )
    )


async def active_collect_origins(conn: Connection | Pool) -> set[str]:
    """Every origin some unrevoked publishable key may be used from (for CORS preflights)."""
    rows = await conn.fetch(
        "SELECT DISTINCT unnest(origins) AS origin FROM api_keys WHERE scope = 'collect' AND revoked_at IS NULL"
    )
    return {row["origin"] for row in rows}
