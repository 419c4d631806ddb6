"""One statement that receives a request: its subject if new, the request, its audit entries, its job.

A request received in a transaction of its own took nine round trips (begin, look the identifier
up, lock it, look again, create the subject, the request, the job, the audit entries, commit);
under load, each round trip costs the service and PostgreSQL more CPU than the work it carries.
Here the caller looks the identifier up beforehand, outside any transaction, and sends this one
statement, which runs as its own transaction. A new subject's identifier is claimed in it
(migration 0006), so a concurrent creation of the same identifier fails the statement (SQLSTATE
CN409, `IdentifierClaimed`) instead of making a second subject; the caller then takes the locking
path. The audit entries and the job are written only with the request: when the subject already
has an open request of this type, the statement changes nothing and returns no row. The job is
not announced with NOTIFY: a notifying commit takes PostgreSQL's global notification lock through
its WAL flush, and every listening connection of every instance is woken, which cost a third of a
received request's CPU under load. The caller wakes its own process's runner after the commit;
other instances find the job at their next poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import msgspec

from consent.store import jobs, requests
from consent.store.audit import AuditRow, insert_from_json
from consent.store.pool import Connection, Pool
from consent.store.requests import NewRequest, RequestRow
from consent.store.vault import NewSubjects, claimed_subjects_ctes

__all__ = ["IdentifierClaimed", "Receipt", "receive_request"]


class IdentifierClaimed(Exception):
    """Another subject holds the new subject's identifier now: nothing was written."""


class Receipt(msgspec.Struct, kw_only=True, frozen=True):
    """What receiving a request writes. `subjects`: the subject to create with it (none if it
    exists); `seen`: the subjects seen holding its blind index at lookup (collisions)."""

    request: NewRequest
    audit: Sequence[AuditRow]
    job: jobs.NewJob | None
    subjects: NewSubjects
    seen: Sequence[UUID] = ()


_REQUEST = len(NewRequest.__struct_fields__)
_STATEMENT = f"""
WITH {claimed_subjects_ctes(_REQUEST)},
request AS (
    {requests.insert_sql(0, source="FROM claimed WHERE claimed.ok")}
), audit AS (
    {insert_from_json(_REQUEST + 9, only_if="EXISTS (SELECT 1 FROM request)")}
), {jobs.enqueue_sql(_REQUEST + 9, only_if=f"${_REQUEST + 17}::bool AND EXISTS (SELECT 1 FROM request)")}
SELECT request.* FROM request
"""


async def receive_request(conn: Connection | Pool, receipt: Receipt) -> RequestRow | None:
    """Write the receipt in one statement (its own transaction when `conn` is a pool); None when
    the subject already has an open request of this type. IdentifierClaimed: see the module."""
    new = receipt.subjects
    try:
        record = await conn.fetchrow(
            _STATEMENT,
            *requests.new_parameters(receipt.request),
            *new.columns(),
            [*receipt.seen, *new.subject_ids],
            receipt.audit,
            *jobs.enqueue_parameters(receipt.job),
            receipt.job is not None,
        )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "CN409":
            raise IdentifierClaimed from None
        raise
    return requests.request_of(record)
