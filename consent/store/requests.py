"""SQL for `requests` and `request_verifications` (migration 0008); `request_deliveries` has its own module."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.store.outbox import OutboxRow
from consent.store.pool import Connection, Pool, Record
from consent.store.recordsets import recordset

__all__ = [
    "ClosedRequestRow",
    "ListFilter",
    "NewRequest",
    "RequestRow",
    "SubjectRequestRow",
    "VerificationRow",
    "clear_ciphertexts",
    "count_attempt",
    "delete_closed_before",
    "enqueue",
    "fetch_corrections",
    "fetch_open",
    "fetch_request",
    "fetch_subject_requests",
    "insert_from_json_sql",
    "insert_request",
    "insert_verification",
    "list_requests",
    "lock_verification",
    "mark_verification_used",
    "request_of",
    "requests_received_between",
    "update_request",
]


class NewRequest(msgspec.Struct, kw_only=True, frozen=True):
    """A request as first written."""

    id: UUID
    subject_id: UUID
    type: str
    state: str
    jurisdiction: str
    channel: str
    verification: str
    approval: str
    purposes: list[str]
    received_at: datetime
    acknowledge_by: date | None
    due_at: date
    note_ciphertext: bytes | None
    corrections_ciphertext: bytes | None
    created_by: str
    full_history: bool = False
    verified_at: datetime | None = None  # set when the request is verified as it is received
    completed_at: datetime | None = None  # and when it also completes at once (an objection)


class RequestRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of `requests`, without its ciphertexts."""

    id: UUID
    subject_id: UUID
    type: str
    state: str
    jurisdiction: str
    channel: str
    verification: str
    approval: str
    purposes: list[str]
    received_at: datetime
    acknowledge_by: date | None
    due_at: date
    extended: bool
    extension_reason: str | None
    verified_at: datetime | None
    approved_at: datetime | None
    approved_by: str | None
    completed_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None
    created_by: str
    updated_at: datetime
    full_history: bool = False
    """An access or portability request under CCPA asks for everything since 2022, not the last 12 months."""
    executed_at: datetime | None = None
    """When its work (an erasure, a rectification, an export) was done; None before, or for types done at once."""
    outcome: dict[str, Any] | None = None
    """What the work did, kept and why: ids, names and counts, never a personal value."""


class SubjectRequestRow(RequestRow, kw_only=True, frozen=True):
    """A request with its ciphertexts, for the subject's own export."""

    note_ciphertext: bytes | None
    corrections_ciphertext: bytes | None


class VerificationRow(msgspec.Struct, kw_only=True, frozen=True):
    request_id: UUID
    salt: bytes
    code_hash: bytes
    attempts: int
    expires_at: datetime
    used_at: datetime | None


class ListFilter(msgspec.Struct, kw_only=True, frozen=True):
    """The queue's filters; every one is optional. `after` pages by id (the order of receipt)."""

    state: str | None = None
    type: str | None = None
    jurisdiction: str | None = None
    due_before: date | None = None
    overdue_on: date | None = None
    """Only open requests whose due date is before this day."""
    after: UUID | None = None
    limit: int = 100


_COLUMNS = ", ".join(RequestRow.__struct_fields__)
_NEW_COLUMNS = NewRequest.__struct_fields__
_OPEN = "('received', 'verified', 'in_progress')"
_OPEN_STATES = frozenset({"received", "verified", "in_progress"})
_UPDATABLE = frozenset(
    {
        "state",
        "due_at",
        "extended",
        "extension_reason",
        "verified_at",
        "approved_at",
        "approved_by",
        "completed_at",
        "rejected_at",
        "rejection_reason",
        "executed_at",
        "outcome",
    }
)


def request_of(record: Record | None) -> RequestRow | None:
    """A row with the columns of `RequestRow` (None for no row), from any statement of this table."""
    return None if record is None else RequestRow(**dict(record.items()))


_NEW_TYPES = {"id": "uuid", "subject_id": "uuid", "purposes": "text[]", "received_at": "timestamptz",
              "acknowledge_by": "date", "due_at": "date", "note_ciphertext": "bytea",
              "corrections_ciphertext": "bytea", "full_history": "bool", "verified_at": "timestamptz",
              "completed_at": "timestamptz"}  # fmt: skip


def insert_from_json_sql(param: int, *, where: str = "true") -> str:
    """The INSERT of new requests passed as one JSON parameter (`consent.store.recordsets`): rows of
    `NewRequest`'s fields, written under the SQL condition `where` (a larger statement's). It returns
    the rows it added: none for a request whose subject already has an open request of its type."""
    types = [(name, _NEW_TYPES.get(name, "text")) for name in _NEW_COLUMNS]
    columns = tuple((name, "text" if kind == "bytea" else kind) for name, kind in types)  # bytes: base64 text
    values = ", ".join(f"decode(r.{name}, 'base64')" if kind == "bytea" else f"r.{name}" for name, kind in types)
    return (
        f"INSERT INTO requests ({', '.join(_NEW_COLUMNS)}, updated_at) SELECT {values}, r.received_at"
        f" FROM {recordset(param, columns)} WHERE {where}"
        f" ON CONFLICT (subject_id, type) WHERE state IN {_OPEN} DO NOTHING RETURNING {_COLUMNS}"
    )


_INSERT = insert_from_json_sql(1)


async def insert_request(conn: Connection, new: NewRequest) -> RequestRow | None:
    """Insert `new`; None if the subject already has an open request of this type."""
    return request_of(await conn.fetchrow(_INSERT, [new]))


async def fetch_open(conn: Connection | Pool, subject_id: UUID, request_type: str) -> RequestRow | None:
    """The subject's open request of this type, if any."""
    return request_of(
        await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM requests WHERE subject_id = $1 AND type = $2 AND state IN {_OPEN}",
            subject_id,
            request_type,
        )
    )


async def fetch_request(conn: Connection | Pool, request_id: UUID, *, lock: bool = False) -> RequestRow | None:
    """One request; with `lock`, held until the caller's transaction ends."""
    suffix = " FOR UPDATE" if lock else ""
    return request_of(await conn.fetchrow(f"SELECT {_COLUMNS} FROM requests WHERE id = $1{suffix}", request_id))


async def fetch_subject_requests(
    conn: Connection | Pool, subject_id: UUID, since: datetime | None
) -> list[SubjectRequestRow]:
    """The subject's requests received at or after `since` (all if None), oldest first."""
    records = await conn.fetch(
        f"SELECT {', '.join(SubjectRequestRow.__struct_fields__)} FROM requests"
        " WHERE subject_id = $1 AND ($2::timestamptz IS NULL OR received_at >= $2) ORDER BY received_at, id",
        subject_id,
        since,
    )
    return [SubjectRequestRow(**dict(record.items())) for record in records]


async def update_request(conn: Connection, request_id: UUID, at: datetime, **changes: object) -> RequestRow:
    """Set the named columns (a transition's); returns the row as it now is."""
    unknown = set(changes) - _UPDATABLE
    assert not unknown, f"not updatable: {unknown}"
    names = list(changes)
    assignments = ", ".join(f"{name} = ${position}" for position, name in enumerate(names, start=3))
    record = await conn.fetchrow(
        f"UPDATE requests SET updated_at = $2, {assignments} WHERE id = $1 RETURNING {_COLUMNS}",
        request_id,
        at,
        *(changes[name] for name in names),
    )
    row = request_of(record)
    assert row is not None, "the caller locked the request"
    return row


async def list_requests(conn: Connection | Pool, where: ListFilter) -> list[RequestRow]:
    """A page of requests in the order of receipt, filtered."""
    clauses, args = ["true"], list[object]()

    def match(clause: str, value: object) -> None:
        args.append(value)
        clauses.append(clause.replace("?", f"${len(args)}"))

    if where.state is not None:
        match("state = ?", where.state)
        if where.state in _OPEN_STATES:
            # The pool plans statements once, blind to the state asked for (`store.pool`), and such a
            # plan walks the whole id order; open requests are the newest few, at its far end. Said
            # in words PostgreSQL can see, their own small index (migration 0015) serves them.
            clauses.append(f"state IN {_OPEN}")
    if where.type is not None:
        match("type = ?", where.type)
    if where.jurisdiction is not None:
        match("jurisdiction = ?", where.jurisdiction)
    if where.due_before is not None:
        match("due_at < ?", where.due_before)
    if where.overdue_on is not None:
        match(f"due_at < ? AND state IN {_OPEN}", where.overdue_on)
    if where.after is not None:
        match("id > ?", where.after)
    args.append(where.limit)
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ${len(args)}", *args
    )
    return [RequestRow(**dict(record.items())) for record in records]


async def requests_received_between(conn: Connection | Pool, start: datetime, end: datetime) -> list[RequestRow]:
    """Every request received in [start, end), oldest first (the §7101 record)."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at, id",
        start,
        end,
    )
    return [RequestRow(**dict(record.items())) for record in records]


class ClosedRequestRow(msgspec.Struct, kw_only=True, frozen=True):
    """What the audit trail keeps of a deleted request record: nothing that names the subject."""

    id: UUID
    type: str
    state: str
    jurisdiction: str
    received_at: datetime
    closed_at: datetime


async def delete_closed_before(
    conn: Connection, *, before: datetime, months: int, limit: int
) -> list[ClosedRequestRow]:
    """Delete up to `limit` requests completed or rejected more than `months` calendar months
    before `before` (with their verification and deliveries); what went, oldest first."""
    records = await conn.fetch(
        """
        WITH gone AS (
            DELETE FROM requests WHERE id IN (
                SELECT id FROM requests
                 WHERE state IN ('completed', 'rejected')
                   AND coalesce(completed_at, rejected_at) < $1::timestamptz - make_interval(months => $2)
                 ORDER BY coalesce(completed_at, rejected_at) LIMIT $3 FOR UPDATE SKIP LOCKED
            ) RETURNING id, type, state, jurisdiction, received_at, coalesce(completed_at, rejected_at) AS closed_at
        )
        SELECT * FROM gone ORDER BY closed_at, id
        """,
        before,
        months,
        limit,
    )
    return [ClosedRequestRow(**dict(record.items())) for record in records]


async def insert_verification(
    conn: Connection, request_id: UUID, *, salt: bytes, code_hash: bytes, expires_at: datetime, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO request_verifications (request_id, salt, code_hash, expires_at, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        request_id,
        salt,
        code_hash,
        expires_at,
        at,
    )


async def lock_verification(conn: Connection, request_id: UUID) -> VerificationRow | None:
    record = await conn.fetchrow(
        "SELECT request_id, salt, code_hash, attempts, expires_at, used_at"
        " FROM request_verifications WHERE request_id = $1 FOR UPDATE",
        request_id,
    )
    return None if record is None else VerificationRow(**dict(record.items()))


async def count_attempt(conn: Connection, request_id: UUID) -> int:
    """Count one more attempt; returns the attempts so far."""
    attempts: int = await conn.fetchval(
        "UPDATE request_verifications SET attempts = attempts + 1 WHERE request_id = $1 RETURNING attempts",
        request_id,
    )
    return attempts


async def mark_verification_used(conn: Connection, request_id: UUID, at: datetime) -> None:
    await conn.execute("UPDATE request_verifications SET used_at = $2 WHERE request_id = $1", request_id, at)


async def enqueue(conn: Connection, message: OutboxRow) -> None:
    """Add one message to the outbox, due at once."""
    await conn.execute(
        "INSERT INTO outbox (id, recipient, subject_id, kind, payload, created_at, next_attempt_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        message.id,
        message.recipient,
        message.subject_id,
        message.kind,
        message.payload,
        message.created_at,
    )


async def fetch_corrections(conn: Connection, request_id: UUID) -> bytes | None:
    """The rectification's corrected fields, as the ciphertext stored with the request."""
    value: bytes | None = await conn.fetchval("SELECT corrections_ciphertext FROM requests WHERE id = $1", request_id)
    return value


async def clear_ciphertexts(conn: Connection, subject_id: UUID) -> int:
    """Drop the notes and corrections of every request of the subject (an erasure); how many rows held some."""
    result = await conn.execute(
        "UPDATE requests SET note_ciphertext = NULL, corrections_ciphertext = NULL"
        " WHERE subject_id = $1 AND (note_ciphertext IS NOT NULL OR corrections_ciphertext IS NOT NULL)",
        subject_id,
    )
    return int(result.split()[-1])
