"""The audit trail's entries: insert-only, never holding personal values.

Writers call :func:`record` inside their own transaction and the entry is
written once: the database gives it a position, a trigger refuses any change
(migration 0012). Shortly after commit a sealer covers it with a signed
checkpoint (`consent.service.audit_sealing`); `consent.service.audit_verification`
checks the whole trail. An entry's Merkle leaf is the SHA-256 of its canonical
JSON document (:func:`entry_document`, what an inclusion proof hands an auditor),
computed once as it is written (`content_hash`), so sealing reads 40 bytes per entry.
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
from consent.store.audit import AuditRow
from consent.store.pool import Connection

__all__ = [
    "AuditEntry",
    "entry_document",
    "entry_rows",
    "record",
    "record_many",
    "subject_action",
]

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


def _document(
    entry_id: UUID,
    *,
    recorded_at: datetime,
    actor: str,
    action: str,
    target: Mapping[str, Any],
    detail: Mapping[str, Any],
) -> bytes:
    """The entry's canonical JSON (sorted keys, UTC microsecond timestamp)."""
    return _canonical(
        {
            "id": str(entry_id),
            "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
        }
    )


def entry_document(row: AuditRow) -> bytes:
    """The canonical JSON of a stored entry; `content_hash` is its SHA-256, the entry's Merkle leaf data."""
    return _document(
        row.id, recorded_at=row.recorded_at, actor=row.actor, action=row.action, target=row.target, detail=row.detail
    )


def _row(entry: AuditEntry, now: datetime) -> AuditRow:
    # PostgreSQL keeps microseconds; the hash must be over exactly what is stored.
    recorded_at = now.astimezone(UTC)
    entry_id = uuid7(int(recorded_at.timestamp() * 1000))
    target, detail = dict(entry.target), dict(entry.detail)
    document = _document(
        entry_id, recorded_at=recorded_at, actor=entry.actor, action=entry.action, target=target, detail=detail
    )
    return AuditRow(
        id=entry_id,
        recorded_at=recorded_at,
        actor=entry.actor,
        action=entry.action,
        target=target,
        detail=detail,
        content_hash=hashlib.sha256(document).digest(),
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
