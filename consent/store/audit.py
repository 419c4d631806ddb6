"""SQL for the audit log (`audit_log`, `audit_head`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.store.pool import Connection

__all__ = [
    "AuditRow",
    "StoredAuditRow",
    "fetch_head",
    "fetch_unsealed",
    "insert_entries",
    "iter_pending",
    "iter_sealed",
    "lock_sealer",
    "write_links",
]

# Transaction-scoped, so a crashed sealer never leaves it held.
_SEALER_LOCK = 0x61756469745F7365  # "audit_se"


class AuditRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One entry of `audit_log` as written (the sealer adds its chain link later)."""

    id: UUID
    recorded_at: datetime
    actor: str
    action: str
    target: dict[str, Any]
    detail: dict[str, Any]
    content_hash: bytes


class StoredAuditRow(AuditRow, kw_only=True, frozen=True, gc=False):
    """One entry of `audit_log` as read back, with its chain link (None while not sealed)."""

    seq: int | None
    prev_hash: bytes | None
    entry_hash: bytes | None


async def insert_entries(conn: Connection, rows: Sequence[AuditRow]) -> None:
    await conn.executemany(
        "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [msgspec.structs.astuple(row) for row in rows],
    )


async def lock_sealer(conn: Connection) -> bool:
    """Try to become the one sealer for this transaction; False if another instance is sealing."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _SEALER_LOCK))


async def fetch_head(conn: Connection) -> tuple[int, bytes] | None:
    row = await conn.fetchrow("SELECT seq, entry_hash FROM audit_head")
    return None if row is None else (row["seq"], bytes(row["entry_hash"]))


async def fetch_unsealed(conn: Connection, limit: int) -> list[tuple[UUID, bytes]]:
    rows = await conn.fetch(
        "SELECT id, content_hash FROM audit_log WHERE seq IS NULL ORDER BY recorded_at, id LIMIT $1", limit
    )
    return [(row["id"], bytes(row["content_hash"])) for row in rows]


async def write_links(
    conn: Connection,
    *,
    ids: list[UUID],
    seqs: list[int],
    prev_hashes: list[bytes],
    entry_hashes: list[bytes],
    sealed_at: datetime,
) -> None:
    """Set the chain links of a batch and move the head, in the caller's transaction."""
    await conn.execute(
        """
        UPDATE audit_log AS a
           SET seq = l.seq, prev_hash = l.prev_hash, entry_hash = l.entry_hash, sealed_at = $5
          FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::bytea[])
               AS l(id, seq, prev_hash, entry_hash)
         WHERE a.id = l.id
        """,
        ids,
        seqs,
        prev_hashes,
        entry_hashes,
        sealed_at,
    )
    await conn.execute(
        """
        INSERT INTO audit_head (singleton, seq, entry_hash) VALUES (true, $1, $2)
        ON CONFLICT (singleton) DO UPDATE SET seq = EXCLUDED.seq, entry_hash = EXCLUDED.entry_hash
        """,
        seqs[-1],
        entry_hashes[-1],
    )


_COLUMNS = ", ".join(StoredAuditRow.__struct_fields__)


async def iter_sealed(conn: Connection, batch: int = 5000) -> AsyncIterator[StoredAuditRow]:
    """Every sealed entry in chain order (keyset pagination, so memory stays flat)."""
    after = 0
    while True:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, batch)
        for row in rows:
            yield StoredAuditRow(**dict(row.items()))
        if len(rows) < batch:
            return
        after = rows[-1]["seq"]


async def iter_pending(conn: Connection) -> AsyncIterator[StoredAuditRow]:
    """Entries written but not yet sealed into the chain."""
    async with conn.transaction():
        async for row in conn.cursor(f"SELECT {_COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY recorded_at"):
            yield StoredAuditRow(**dict(row.items()))
