"""One statement that receives requests: their subjects if new, the requests, their audit entries, their jobs.

A request received in a transaction of its own took nine round trips (begin, look the identifier
up, lock it, look again, create the subject, the request, the job, the audit entries, commit);
under load, each round trip costs the service and PostgreSQL more CPU than the work it carries.
Here one statement, its own transaction, receives one request or many received at the same time
(`consent.service.requests.receipt_batches`): one commit, one WAL flush and one notification of
new identifiers serve them all.

A request names its subject by id when the caller knows it (given, or remembered by this
process), or comes with a new subject to create for its identifier, without a lookup first.
The statement claims the new subjects' identifiers (migration 0021: the same advisory locks as
the locking path, then a fresh look): an identifier another subject already holds is reported
`HELD`, and neither that subject nor its request is written; the caller looks the identifier up
and sends the request again with the subject it finds. So a new person costs one round trip, and
a known one the caller did not remember two, as before.

The audit entries and the job of a request are written only with the request: when its subject
already has an open request of this type, the statement writes nothing of it and returns no row
for it. The jobs are not announced with NOTIFY: a notifying commit takes PostgreSQL's global
notification lock through its WAL flush, and every listening connection of every instance is
woken. The caller wakes its own process's runner after the commit; other instances find the jobs
at their next poll.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from consent.ids import uuid7
from consent.store import jobs, requests
from consent.store.audit import AuditRow, insert_from_json
from consent.store.pool import Connection, Pool
from consent.store.recordsets import recordset, typed
from consent.store.requests import NewRequest, RequestRow
from consent.store.vault import NewSubjects, planned_subjects_ctes

__all__ = ["HELD", "Held", "Receipt", "receive_requests"]


class Held(enum.Enum):
    HELD = "held"
    """The new subject's identifier is another subject's: nothing of this receipt was written."""


HELD = Held.HELD


class Receipt(msgspec.Struct, kw_only=True, frozen=True):
    """What receiving a request writes. `subjects`: the subject to create with it (none if it
    exists); `seen`: subjects known to hold its new identifier's blind index with another value
    (a collision of truncated indexes): they do not make it `HELD`."""

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
# A request is written unless its new subject was not (its identifier is held).
_REQUESTS = requests.insert_from_json_sql(
    9, where="r.subject_id <> ALL ($1::uuid[]) OR r.subject_id IN (SELECT subject_id FROM planned)"
)
# $1-$7: the new subjects (`NewSubjects.columns()`), $8 the subjects seen; $9 the requests, $10 their
# audit entries, $11 their jobs. `planned` is what the claim left to create; every insert reads it,
# so the claim runs first. The last column of every row lists the new subjects not created.
_STATEMENT = f"""
WITH {planned_subjects_ctes(0)}, request AS (
    {_REQUESTS}
), audit AS (
    {insert_from_json(10, only_if="r.request_id IN (SELECT id FROM request)", columns=_AUDIT, order="r.n")}
), queued AS (
    INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, max_attempts, subject_id, created_at)
    SELECT r.id, r.kind, r.dedupe_key, r.payload, r.run_at, r.max_attempts, r.subject_id, now()
      FROM {recordset(11, _JOBS)}
     WHERE r.request_id IN (SELECT id FROM request)
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT request.*, skipped.ids AS not_created FROM skipped LEFT JOIN request ON true
"""


async def receive_requests(conn: Connection | Pool, receipts: Sequence[Receipt]) -> list[RequestRow | Held | None]:
    """Write the receipts in one statement (its own transaction when `conn` is a pool). For each,
    in order: its request's row; `HELD` when its new subject's identifier is another subject's;
    None when its subject already has an open request of its type."""
    audit = [
        _AuditOf(**msgspec.structs.asdict(entry), request_id=r.request.id, n=n)
        for n, (r, entry) in enumerate((r, entry) for r in receipts for entry in r.audit)
    ]
    queued = [
        _JobOf(**msgspec.structs.asdict(r.job), id=uuid7(), request_id=r.request.id)
        for r in receipts
        if r.job is not None
    ]
    records = await conn.fetch(
        _STATEMENT,
        *_subject_columns(receipts),
        [seen for r in receipts for seen in (*r.seen, *r.subjects.subject_ids)],
        [r.request for r in receipts],
        audit,
        queued,
    )
    not_created = set(records[0]["not_created"])
    written = {
        record["id"]: RequestRow(**{k: v for k, v in record.items() if k != "not_created"})
        for record in records
        if record["id"] is not None
    }
    return [HELD if not_created.intersection(r.subjects.subject_ids) else written.get(r.request.id) for r in receipts]


def _subject_columns(receipts: Sequence[Receipt]) -> list[Any]:
    """`NewSubjects.columns()` of every receipt's new subjects together."""
    columns: list[Any] = [[], [], [], [], [], []]
    for receipt in receipts:
        for merged, own in zip(columns, receipt.subjects.columns()[:6], strict=True):
            merged.extend(own)
    created_at = min((r.subjects.created_at for r in receipts), default=None)
    return [*columns, created_at]
