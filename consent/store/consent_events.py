"""SQL for `consent_events` (append-only, read side; the batch writer inserts them), `idempotency_keys`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool

__all__ = [
    "EVENT_CSV_COLUMNS",
    "RECEIPT_CSV_COLUMNS",
    "ConsentEventRow",
    "FeedRow",
    "IdempotencyRow",
    "StoredAnswer",
    "claim_idempotency_keys",
    "copy_history_csv",
    "copy_receipts_csv",
    "delete_expired_idempotency_keys",
    "fetch_feed",
    "fetch_history",
    "fetch_history_since",
    "fetch_idempotency",
    "fetch_plain_user_agents",
    "replace_plain_user_agents",
]


# `gc=False`: rows hold only scalars and JSON-like values, never a cycle, and a batch builds hundreds.
class ConsentEventRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One row of `consent_events`, as written and as read back; fields in column order."""

    subject_id: UUID
    id: UUID
    purpose: str
    status: str
    action: str
    source: str
    jurisdiction: str
    language: str | None
    property: str
    notice_version: int
    policy_version: int
    gpc: bool
    client_at: datetime | None
    recorded_at: datetime
    receipt_id: UUID | None
    proof: dict[str, Any]
    by_guardian: bool = False


_EVENT_COLUMNS = ", ".join(ConsentEventRow.__struct_fields__)


class FeedRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """An event as the change feed hands it out, with the id of the transaction that wrote it."""

    txid: int
    id: UUID
    subject_id: UUID
    purpose: str
    status: str
    action: str
    source: str
    jurisdiction: str
    property: str
    notice_version: int
    policy_version: int
    gpc: bool
    recorded_at: datetime


class IdempotencyRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One row of `idempotency_keys`: the first answer given to an Idempotency-Key."""

    api_key_id: UUID
    key: str
    request_hash: bytes
    status: int
    response: Any
    created_at: datetime
    subject_id: UUID | None = None
    """Whose choices the answer carries, so erasing the subject deletes the record."""


class StoredAnswer(msgspec.Struct, kw_only=True, frozen=True):
    """What a replay needs of an `idempotency_keys` row."""

    request_hash: bytes
    status: int
    response: Any


async def claim_idempotency_keys(conn: Connection, rows: list[IdempotencyRow]) -> set[tuple[UUID, str]]:
    """Insert the rows; returns the (api_key_id, key) pairs this call won.

    A key another transaction holds makes this wait for it to finish, then lose.
    """
    if not rows:
        return set()
    won = await conn.fetch(
        """
        INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at, subject_id)
        SELECT * FROM unnest(
            $1::uuid[], $2::text[], $3::bytea[], $4::int[], $5::jsonb[], $6::timestamptz[], $7::uuid[]
        )
        ON CONFLICT DO NOTHING RETURNING api_key_id, key
        """,
        [row.api_key_id for row in rows],
        [row.key for row in rows],
        [row.request_hash for row in rows],
        [row.status for row in rows],
        [row.response for row in rows],
        [row.created_at for row in rows],
        [row.subject_id for row in rows],
    )
    return {(row["api_key_id"], row["key"]) for row in won}


async def fetch_idempotency(conn: Connection | Pool, api_key_id: UUID, key: str) -> StoredAnswer | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
        api_key_id,
        key,
    )
    return None if row is None else StoredAnswer(request_hash=bytes(row[0]), status=row[1], response=row[2])


async def delete_expired_idempotency_keys(conn: Connection | Pool, before: datetime) -> int:
    result = await conn.execute("DELETE FROM idempotency_keys WHERE created_at < $1", before)
    return int(result.split()[-1])


async def fetch_history(conn: Connection | Pool, subject_id: UUID) -> list[ConsentEventRow]:
    rows = await conn.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM consent_events WHERE subject_id = $1 ORDER BY recorded_at, id",
        subject_id,
    )
    return [ConsentEventRow(**dict(row.items())) for row in rows]


# Ordered by the table's columns, qualified: a bare `txid` would name the output column (the bigint),
# which no index orders, and every event after the cursor would be read and sorted for each page.
_FEED = f"""
    SELECT txid::text::bigint AS txid, {", ".join(FeedRow.__struct_fields__[1:])}
      FROM consent_events e
     WHERE (e.txid, e.id) > ($1::text::xid8, $2::uuid)
       AND e.txid < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY e.txid, e.id
     LIMIT $3
"""


async def fetch_feed(conn: Connection | Pool, after_txid: int, after_id: UUID, limit: int) -> list[FeedRow]:
    """Events after the cursor, in (transaction, id) order, only from transactions that can no longer
    be joined by an earlier, still-running one: everything below the oldest running xid is final."""
    rows = await conn.fetch(
        _FEED,
        str(after_txid),
        after_id,
        limit,
    )
    return [FeedRow(**dict(row.items())) for row in rows]


async def fetch_history_since(
    conn: Connection | Pool, subject_id: UUID, since: datetime | None
) -> list[ConsentEventRow]:
    """The subject's events recorded at or after `since` (all if None: `fetch_history`), oldest first."""
    if since is None:
        return await fetch_history(conn, subject_id)
    rows = await conn.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM consent_events WHERE subject_id = $1 AND recorded_at >= $2"
        " ORDER BY recorded_at, id",
        subject_id,
        since,
    )
    return [ConsentEventRow(**dict(row.items())) for row in rows]


def _iso(column: str) -> str:
    # RFC 3339, as the JSON files write times (PostgreSQL's own text form has a space, no colon in the offset).
    return f"to_json({column}) #>> '{{}}' AS {column}"


EVENT_CSV_COLUMNS = (
    "id", "purpose", "status", "action", "source", "jurisdiction", "language", "property", "notice_version",
    "policy_version", "gpc", "by_guardian", "client_at", "recorded_at", "receipt_id", "proof",
)  # fmt: skip
RECEIPT_CSV_COLUMNS = (
    "receipt_id", "recorded_at", "jurisdiction", "property", "language", "policy_version", "sources", "actions",
    "purposes",
)  # fmt: skip


async def copy_history_csv(conn: Connection, subject_id: UUID, since: datetime | None) -> bytes:
    """`fetch_history_since` as CSV with a header (`EVENT_CSV_COLUMNS`), formatted by PostgreSQL."""
    select = ", ".join(_iso(c) if c.endswith("_at") else f"{c}::text" for c in EVENT_CSV_COLUMNS)
    return await _copy_csv(
        conn,
        f"SELECT {select} FROM consent_events WHERE subject_id = $1"
        " AND ($2::timestamptz IS NULL OR recorded_at >= $2)"
        " ORDER BY consent_events.recorded_at, consent_events.id",
        subject_id,
        since,
    )


async def copy_receipts_csv(conn: Connection, subject_id: UUID, since: datetime | None) -> bytes:
    """One line per receipt of those events (`RECEIPT_CSV_COLUMNS`); its purposes as `purpose=status` pairs."""
    return await _copy_csv(
        conn,
        f"""
        SELECT receipt_id, {_iso("recorded_at")}, jurisdiction, property, language, policy_version,
               string_agg(DISTINCT source, ' ') AS sources, string_agg(DISTINCT action, ' ') AS actions,
               string_agg(purpose || '=' || status, ' ' ORDER BY purpose) AS purposes
          FROM consent_events
         WHERE subject_id = $1 AND receipt_id IS NOT NULL AND ($2::timestamptz IS NULL OR recorded_at >= $2)
         GROUP BY receipt_id, recorded_at, jurisdiction, property, language, policy_version
         ORDER BY consent_events.recorded_at, consent_events.receipt_id
        """,
        subject_id,
        since,
    )


async def _copy_csv(conn: Connection, query: str, *args: object) -> bytes:
    chunks: list[bytes] = []

    async def collect(chunk: bytes) -> None:
        chunks.append(chunk)

    await conn.copy_from_query(query, *args, output=collect, format="csv", header=True)
    return b"".join(chunks)


async def fetch_plain_user_agents(conn: Connection, limit: int) -> list[tuple[UUID, UUID, str]]:
    """(subject id, event id, SHA-256 hex) of proofs still holding a plain user-agent digest, locked."""
    rows = await conn.fetch(
        "SELECT subject_id, id, proof->>'user_agent_sha256' AS digest FROM consent_events"
        " WHERE proof ? 'user_agent_sha256' LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [(row["subject_id"], row["id"], row["digest"]) for row in rows]


async def replace_plain_user_agents(
    conn: Connection, subject_ids: list[UUID], event_ids: list[UUID], keyed: list[str]
) -> None:
    """Swap each proof's plain user-agent digest for its keyed one."""
    await conn.execute(
        """
        UPDATE consent_events e
           SET proof = (e.proof - 'user_agent_sha256') || jsonb_build_object('user_agent_hmac', k.keyed)
          FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS k(subject_id, id, keyed)
         WHERE e.subject_id = k.subject_id AND e.id = k.id
        """,
        subject_ids,
        event_ids,
        keyed,
    )
