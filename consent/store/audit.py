"""SQL for the audit trail: entries (`audit_log`, insert-only) and their checkpoints (`audit_checkpoints`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.store.pool import Connection
from consent.store.recordsets import Columns, recordset, typed

__all__ = [
    "AuditRow",
    "CheckpointRow",
    "Horizon",
    "LeafRow",
    "StoredAuditRow",
    "capture_horizon",
    "fetch_checkpoint_covering",
    "fetch_entry",
    "fetch_last_checkpoint",
    "fetch_leaves",
    "horizon_passed",
    "insert_checkpoint",
    "insert_entries",
    "insert_from_json",
    "iter_checkpoints",
    "iter_entries",
    "lock_sealer",
]

# Transaction-scoped, so a crashed sealer never leaves it held.
_SEALER_LOCK = 0x61756469745F7365  # "audit_se"


class AuditRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One entry of `audit_log` as written (the database adds its position)."""

    id: UUID
    recorded_at: datetime
    actor: str
    action: str
    target: dict[str, Any]
    detail: dict[str, Any]
    content_hash: bytes


_COLUMNS_OF_ROWS = typed(AuditRow)


class StoredAuditRow(AuditRow, kw_only=True, frozen=True, gc=False):
    """One entry as read back, with the position the database gave it."""

    position: int


class LeafRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What sealing needs of an entry: where it is, and the hash of its content."""

    position: int
    content_hash: bytes


class CheckpointRow(msgspec.Struct, kw_only=True, frozen=True):
    seq: int
    last_position: int
    size: int
    checkpoint_hash: bytes
    token: str
    signed_at: datetime


class Horizon(msgspec.Struct, kw_only=True, frozen=True):
    """Every position up to `position` was drawn by a transaction whose xid is below `xmax`."""

    position: int
    xmax: int


async def insert_entries(conn: Connection, rows: Sequence[AuditRow]) -> None:
    await conn.executemany(
        "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [msgspec.structs.astuple(row) for row in rows],
    )


def insert_from_json(param: int, *, only_if: str = "true", columns: Columns = _COLUMNS_OF_ROWS, order: str = "") -> str:
    """The INSERT of audit rows passed as one JSON parameter (`consent.store.recordsets`), for a
    larger statement; `only_if` is an SQL condition the rows are written under. `columns`: those of
    `AuditRow` and any more the condition reads; `order`: the order of their positions, an SQL
    expression of them (the parameter's own order when empty)."""
    ordered = f" ORDER BY {order}" if order else ""
    return (
        "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)"
        " SELECT r.id, r.recorded_at, r.actor, r.action, r.target, r.detail, decode(r.content_hash, 'base64')"
        f" FROM {recordset(param, columns)} WHERE {only_if}{ordered}"
    )


async def lock_sealer(conn: Connection) -> bool:
    """Try to become the one sealer for this transaction; False if another instance is sealing."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _SEALER_LOCK))


async def capture_horizon(conn: Connection) -> Horizon:
    """The last position drawn so far, then the snapshot's xmax: read in this order, so that every
    transaction holding a position up to it had its xid (drawn first, see migration 0012) below xmax."""
    last = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM audit_log_position")
    xmax = await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
    return Horizon(position=last, xmax=xmax)


async def horizon_passed(conn: Connection, horizon: Horizon) -> bool:
    """True once every transaction below the horizon's xmax has ended: its positions are final."""
    return bool(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= $1", horizon.xmax))


_CHECKPOINT_COLUMNS = ", ".join(CheckpointRow.__struct_fields__)


async def fetch_last_checkpoint(conn: Connection) -> CheckpointRow | None:
    row = await conn.fetchrow(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
    return None if row is None else CheckpointRow(**dict(row.items()))


async def fetch_checkpoint_covering(conn: Connection, position: int) -> tuple[CheckpointRow, int] | None:
    """The checkpoint whose range holds `position`, with the last position of the one before (0 for none)."""
    row = await conn.fetchrow(
        f"SELECT {_CHECKPOINT_COLUMNS}, coalesce((SELECT p.last_position FROM audit_checkpoints p"
        "  WHERE p.seq = c.seq - 1), 0) AS after"
        " FROM audit_checkpoints c WHERE last_position >= $1 ORDER BY seq LIMIT 1",
        position,
    )
    if row is None:
        return None
    fields = dict(row.items())
    after = fields.pop("after")
    return CheckpointRow(**fields), after


async def insert_checkpoint(conn: Connection, row: CheckpointRow) -> None:
    await conn.execute(
        f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
        *msgspec.structs.astuple(row),
    )


_COLUMNS = ", ".join(StoredAuditRow.__struct_fields__)


def _entry(row: Any) -> StoredAuditRow:
    return StoredAuditRow(**dict(row.items()))


async def fetch_leaves(conn: Connection, after: int, up_to: int, limit: int) -> list[LeafRow]:
    """The content hashes of the entries with `after < position <= up_to`, in position order, at most `limit`."""
    rows = await conn.fetch(
        "SELECT position, content_hash FROM audit_log WHERE position > $1 AND position <= $2"
        " ORDER BY position LIMIT $3",
        after,
        up_to,
        limit,
    )
    return [LeafRow(position=row["position"], content_hash=bytes(row["content_hash"])) for row in rows]


async def fetch_entry(conn: Connection, entry_id: UUID) -> StoredAuditRow | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM audit_log WHERE id = $1", entry_id)
    return None if row is None else _entry(row)


async def iter_entries(conn: Connection, *, after: int = 0, batch: int = 5000) -> AsyncIterator[StoredAuditRow]:
    """Every entry after position `after`, in position order (keyset pagination: memory stays flat)."""
    while True:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE position > $1 ORDER BY position LIMIT $2", after, batch
        )
        for row in rows:
            yield _entry(row)
        if len(rows) < batch:
            return
        after = rows[-1]["position"]


async def iter_checkpoints(conn: Connection, *, batch: int = 1000) -> AsyncIterator[CheckpointRow]:
    """Every checkpoint in `seq` order."""
    after = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2", after, batch
        )
        for row in rows:
            yield CheckpointRow(**dict(row.items()))
        if len(rows) < batch:
            return
        after = rows[-1]["seq"]
