"""The audit trail: append-only, hash-chained, never holding personal values.

Writers call :func:`record` inside their own transaction; the entry carries the
SHA-256 of its canonical content. A sealer (:func:`seal_pending`, run by
`consent.jobs.audit_sealer` shortly after commit) links committed entries into
the chain in batches: `entry_hash = SHA-256(prev_hash || seq || content_hash)`.
Writers therefore never wait for one another, and :func:`verify_chain` can tell
an edited entry (content hash), a deleted one (a gap in `seq`) and a truncated
tail (the head record) apart from entries that are simply not sealed yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.ids import uuid7
from consent.store import audit as audit_store
from consent.store.audit import AuditRow, StoredAuditRow
from consent.store.pool import Connection

__all__ = [
    "AuditEntry",
    "ChainReport",
    "content_hash",
    "entry_rows",
    "link_hash",
    "record",
    "record_many",
    "seal_pending",
    "verify_chain",
]

GENESIS = bytes(32)
_canonical = msgspec.json.Encoder(order="sorted").encode

# Only plain identifiers and counts belong in an audit entry: never a personal value.
AuditValue = str | int | bool | None | list[str]


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    """One auditable action. `target` names ids (subject_id, key_id, ...); `detail` adds facts."""

    actor: str
    action: str
    target: Mapping[str, AuditValue] = {}
    detail: Mapping[str, AuditValue] = {}


def subject_action(actor: str, action: str, subject_id: UUID, **detail: AuditValue) -> AuditEntry:
    """The entry of an action on one subject, the commonest target: `subject_action(actor, "x.read", sid, n=3)`."""
    return AuditEntry(actor=actor, action=action, target={"subject_id": str(subject_id)}, detail=detail)


def content_hash(
    entry_id: UUID,
    *,
    recorded_at: datetime,
    actor: str,
    action: str,
    target: Mapping[str, Any],
    detail: Mapping[str, Any],
) -> bytes:
    """SHA-256 over the entry's canonical JSON (sorted keys, UTC microsecond timestamp)."""
    document = {
        "id": str(entry_id),
        "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    }
    return hashlib.sha256(_canonical(document)).digest()


def link_hash(prev_hash: bytes, seq: int, entry_content_hash: bytes) -> bytes:
    return hashlib.sha256(prev_hash + seq.to_bytes(8, "big") + entry_content_hash).digest()


def _row(entry: AuditEntry, now: datetime) -> AuditRow:
    # PostgreSQL keeps microseconds; the hash must be over exactly what is stored.
    recorded_at = now.astimezone(UTC)
    entry_id = uuid7(int(recorded_at.timestamp() * 1000))
    target, detail = dict(entry.target), dict(entry.detail)
    digest = content_hash(
        entry_id, recorded_at=recorded_at, actor=entry.actor, action=entry.action, target=target, detail=detail
    )
    return AuditRow(
        id=entry_id,
        recorded_at=recorded_at,
        actor=entry.actor,
        action=entry.action,
        target=target,
        detail=detail,
        content_hash=digest,
    )


async def record(conn: Connection, entry: AuditEntry, *, now: datetime | None = None) -> None:
    """Append `entry` in the caller's transaction (it commits or rolls back with the change)."""
    await record_many(conn, [entry], now=now)


def entry_rows(entries: Sequence[AuditEntry], now: datetime) -> list[AuditRow]:
    """The rows `record_many` would insert, for callers that batch them into a larger statement."""
    return [_row(entry, now) for entry in entries]


async def record_many(conn: Connection, entries: Sequence[AuditEntry], *, now: datetime | None = None) -> None:
    """Append several entries with one statement, in the caller's transaction."""
    moment = now or datetime.now(UTC)
    await audit_store.insert_entries(conn, [_row(entry, moment) for entry in entries])


async def seal_pending(conn: Connection, *, batch: int = 5000) -> int:
    """Link up to `batch` committed, unsealed entries into the chain; returns how many.

    Safe to run from every instance at once: only the holder of a
    transaction-scoped advisory lock seals, the others return 0.
    """
    async with conn.transaction():
        if not await audit_store.lock_sealer(conn):
            return 0
        pending = await audit_store.fetch_unsealed(conn, batch)
        if not pending:
            return 0
        head = await audit_store.fetch_head(conn)
        seq, prev = head if head is not None else (0, GENESIS)
        ids, seqs, prevs, hashes = [], [], [], []
        for entry_id, digest in pending:
            seq += 1
            entry_hash = link_hash(prev, seq, digest)
            ids.append(entry_id)
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(entry_hash)
            prev = entry_hash
        await audit_store.write_links(
            conn, ids=ids, seqs=seqs, prev_hashes=prevs, entry_hashes=hashes, sealed_at=datetime.now(UTC)
        )
        return len(pending)


class ChainReport(msgspec.Struct, kw_only=True, frozen=True):
    """What `consent audit verify` found."""

    ok: bool
    sealed: int
    pending: int
    head_seq: int | None
    head_hash: str | None
    broken_at: int | None = None
    entry_id: str | None = None
    problem: str | None = None


def _stored_content_matches(row: StoredAuditRow) -> bool:
    recomputed = content_hash(
        row.id, recorded_at=row.recorded_at, actor=row.actor, action=row.action, target=row.target, detail=row.detail
    )
    return recomputed == row.content_hash


def _check_link(row: StoredAuditRow, expected_seq: int, prev: bytes) -> str | None:
    """The first problem with one sealed row, or None."""
    assert row.seq is not None, "sealed entries have a sequence number"
    if row.seq != expected_seq:
        return f"entries {expected_seq}..{row.seq - 1} are missing"
    if not _stored_content_matches(row):
        return "content differs from its hash (edited)"
    if row.prev_hash != prev:
        return "link to the previous entry is broken"
    if row.entry_hash != link_hash(prev, row.seq, row.content_hash):
        return "entry hash does not match"
    return None


async def verify_chain(conn: Connection) -> ChainReport:
    """Walk the whole chain and the pending entries; report the first broken link."""
    head = await audit_store.fetch_head(conn)
    expected, prev = 1, GENESIS
    async for row in audit_store.iter_sealed(conn):
        problem = _check_link(row, expected, prev)
        if problem is not None:
            return _broken(head, expected - 1, expected, str(row.id), problem)
        prev = row.entry_hash or GENESIS
        expected += 1
    sealed = expected - 1
    if head is not None and (head[0] != sealed or head[1] != prev):
        return _broken(head, sealed, sealed + 1, None, f"chain ends at {sealed} but its head says {head[0]}")
    pending = 0
    async for row in audit_store.iter_pending(conn):
        pending += 1
        if not _stored_content_matches(row):
            return _broken(head, sealed, None, str(row.id), "pending entry differs from its hash (edited)")
    return ChainReport(
        ok=True,
        sealed=sealed,
        pending=pending,
        head_seq=head[0] if head else None,
        head_hash=head[1].hex() if head else None,
    )


def _broken(
    head: tuple[int, bytes] | None, sealed: int, at: int | None, entry_id: str | None, problem: str
) -> ChainReport:
    return ChainReport(
        ok=False,
        sealed=sealed,
        pending=0,
        head_seq=head[0] if head else None,
        head_hash=head[1].hex() if head else None,
        broken_at=at,
        entry_id=entry_id,
        problem=problem,
    )
