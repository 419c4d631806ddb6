"""SQL for `consent_events` (append-only, read side; the batch writer inserts them), `idempotency_keys`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from consent.store.pool import Connection, Pool

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "claim_idempotency_keys",
    "delete_expired_idempotency_keys",
    "fetch_feed",
    "fetch_history",
    "fetch_idempotency",
]

EVENT_COLUMNS = (
    "subject_id",
    "id",
    "purpose",
    "status",
    "action",
    "source",
    "jurisdiction",
    "language",
    "property",
    "notice_version",
    "policy_version",
    "gpc",
    "client_at",
    "recorded_at",
    "receipt_id",
    "proof",
)
EVENT_TYPES = (
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int",
    "int",
    "bool",
    "timestamptz",
    "timestamptz",
    "uuid",
    "jsonb",
)


async def claim_idempotency_keys(
    conn: Connection, rows: list[tuple[UUID, str, bytes, int, Any, datetime]]
) -> set[tuple[UUID, str]]:
    """Insert (api_key_id, key, request_hash, status, response, created_at); returns the keys this call won.

    A key another transaction holds makes this wait for it to finish, then lose.
    """
    if not rows:
        return set()
    won = await conn.fetch(
        """
        INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::int[], $5::jsonb[], $6::timestamptz[])
        ON CONFLICT DO NOTHING RETURNING api_key_id, key
        """,
        *[[row[i] for row in rows] for i in range(6)],
    )
    return {(row["api_key_id"], row["key"]) for row in won}


async def fetch_idempotency(conn: Connection | Pool, api_key_id: UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
        api_key_id,
        key,
    )


async def delete_expired_idempotency_keys(conn: Connection | Pool, before: datetime) -> int:
    result = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < $1", before)
    return int(result.split()[-1])


async def fetch_history(conn: Connection | Pool, subject_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM consent_events WHERE subject_id = $1 ORDER BY recorded_at, id",
            subject_id,
        )
    )


async def fetch_feed(conn: Connection | Pool, after_txid: int, after_id: UUID, limit: int) -> list[asyncpg.Record]:
    """Events after the cursor, in (transaction, id) order, only from transactions that can no longer
    be joined by an earlier, still-running one: everything below the oldest running xid is final."""
    return list(
        await conn.fetch(
            """
            SELECT txid::text::bigint AS txid, id, subject_id, purpose, status, action, source, jurisdiction,
                   property, notice_version, policy_version, gpc, recorded_at
              FROM consent_events
             WHERE (txid, id) > ($1::text::xid8, $2::uuid)
               AND txid < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY txid, id
             LIMIT $3
            """,
            str(after_txid),
            after_id,
            limit,
        )
    )
