"""One statement that receives requests: their subjects if new, the requests, their audit entries, their jobs.

A request received in a transaction of its own took nine round trips (begin, look the identifier
up, lock it, look again, create the subject, the request, the job, the audit entries, commit);
under load, each round trip costs the service and PostgreSQL more CPU than the work it carries.
Here the caller looks the identifiers up beforehand, outside any transaction, and sends this one
statement, which runs as its own transaction, for one request or for many received at the same
time (`consent.service.requests.receipt_batches`): one commit, one WAL flush and one notification
of new identifiers serve them all. A new subject's identifier is claimed in it (migration 0006),
so a concurrent creation of the same identifier fails the statement (SQLSTATE CN409,
`IdentifierClaimed`) instead of making a second subject; the caller then takes the locking path.
The audit entries and the job of a request are written only with the request: when its subject
already has an open request of this type, the statement writes nothing of it and returns no row
for it. The jobs are not announced with NOTIFY: a notifying commit takes PostgreSQL's global
notification lock through its WAL flush, and every listening connection of every instance is
woken, which cost a third of a received request's CPU under load. The caller wakes its own
process's runner after the commit; other instances find the jobs at their next poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent.ids import uuid7
from consent.store import jobs, requests
from consent.store.audit import AuditRow, insert_from_json
from consent.store.pool import Connection, Pool
from consent.store.recordsets import recordset, typed
from consent.store.requests import NewRequest, RequestRow
from consent.store.vault import NewSubjects, claimed_subjects_ctes

__all__ = ["IdentifierClaimed", "Receipt", "receive_requests"]


class IdentifierClaimed(Exception):
    """Another subject holds a new subject's identifier now: nothing was written."""


class Receipt(msgspec.Struct, kw_only=True, frozen=True):
    """What receiving a request writes. `subjects`: the subject to create with it (none if it
    exists); `seen`: the subjects seen holding its blind index at lookup (collisions)."""

    request: NewRequest
    audit: Sequence[AuditRow]
    job: jobs.NewJob | None
    subjects: NewSubjects
    seen: Sequence[UUID] = ()


class _AuditOf(AuditRow, kw_only=True, frozen=True, gc=False):
    """An audit entry with the request it is written with, and its place among the statement's."""

    request_id: UUID
    n: int


class _JobOf(jobs.NewJob, kw_only=True, frozen=True):
    id: UUID
    request_id: UUID


_AUDIT = (*typed(AuditRow), ("request_id", "uuid"), ("n", "int"))
_JOBS = (("id", "uuid"), ("kind", "text"), ("dedupe_key", "text"), ("payload", "jsonb"), ("run_at", "timestamptz"),
         ("max_attempts", "int"), ("subject_id", "uuid"), ("request_id", "uuid"))  # fmt: skip
# $1-$8: the new subjects and the subjects seen; $9 the requests, $10 their audit entries, $11 their jobs.
_STATEMENT = f"""
WITH {claimed_subjects_ctes(0)},
request AS (
    {requests.insert_from_json_sql(9, source="claimed, ", where="claimed.ok")}
), audit AS (
    {insert_from_json(10, only_if="r.request_id IN (SELECT id FROM request)", columns=_AUDIT, order="r.n")}
), queued AS (
    INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, max_attempts, subject_id, created_at)
    SELECT r.id, r.kind, r.dedupe_key, r.payload, r.run_at, r.max_attempts, r.subject_id, now()
      FROM {recordset(11, _JOBS)}
     WHERE r.request_id IN (SELECT id FROM request)
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT request.* FROM request
"""


async def receive_requests(conn: Connection | Pool, receipts: Sequence[Receipt]) -> list[RequestRow | None]:
    """Write the receipts in one statement (its own transaction when `conn` is a pool): the row of
    each request, in order, or None where its subject already has an open request of its type.
    IdentifierClaimed: see the module; nothing was written."""
    created_at = min((r.subjects.created_at for r in receipts), default=None)
    audit = [
        _AuditOf(**msgspec.structs.asdict(entry), request_id=r.request.id, n=n)
        for n, (r, entry) in enumerate((r, entry) for r in receipts for entry in r.audit)
    ]
    queued = [
        _JobOf(**msgspec.structs.asdict(r.job), id=uuid7(), request_id=r.request.id)
        for r in receipts
        if r.job is not None
    ]
    try:
        records = await conn.fetch(
            _STATEMENT,
            *_subject_columns(receipts, created_at),
            [seen for r in receipts for seen in (*r.seen, *r.subjects.subject_ids)],
            [r.request for r in receipts],
            audit,
            queued,
        )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "CN409":
            raise IdentifierClaimed from None
        raise
    written = {record["id"]: requests.request_of(record) for record in records}
    return [written.get(r.request.id) for r in receipts]


def _subject_columns(receipts: Sequence[Receipt], created_at: datetime | None) -> list[Any]:
    """`NewSubjects.columns()` of every receipt's new subjects together."""
    columns: list[Any] = [[], [], [], [], [], []]
    for receipt in receipts:
        for merged, own in zip(columns, receipt.subjects.columns()[:6], strict=True):
            merged.extend(own)
    return [*columns, created_at]
