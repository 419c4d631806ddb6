"""SQL for `jobs`: background steps leased by any instance (`consent.jobs.runner`).

A lease moves a job's `run_at` to the end of the lease, so a leased job is simply not due: a
worker that dies leaves it due again when the lease lapses, for any instance to take. Finishing a
job checks the worker still holds it, so a worker whose lease lapsed changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from consent.ids import uuid7
from consent.store.notifications import notify
from consent.store.pool import Connection, Pool, in_index_order

__all__ = [
    "JOBS_CHANNEL",
    "LEASE",
    "JobRow",
    "NewJob",
    "complete",
    "enqueue",
    "enqueue_parameters",
    "enqueue_sql",
    "fail",
    "fetch",
    "fetch_by_key",
    "lease",
    "purge_done",
    "retry",
]

JOBS_CHANNEL = "consent_jobs"
"""Notified on every enqueue and retry, so idle runners wake at once instead of at their next poll."""


class JobRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of `jobs`."""

    id: UUID
    kind: str
    dedupe_key: str
    subject_id: UUID | None
    payload: dict[str, Any]
    state: str
    run_at: datetime
    attempts: int
    max_attempts: int
    leased_by: str | None
    leased_until: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class NewJob(msgspec.Struct, kw_only=True, frozen=True):
    """A job to add (`enqueue`); its payload holds ids and counts only."""

    kind: str
    dedupe_key: str
    payload: dict[str, Any]
    run_at: datetime
    max_attempts: int
    subject_id: UUID | None = None


def enqueue_sql(first: int, *, only_if: str) -> str:
    """A CTE (`queued`) that adds a job inside a larger statement unless its dedupe key exists, under
    the SQL condition `only_if`; it returns the kind of the job it added. Parameters from $first+1:
    the job's id, then `NewJob`'s fields in order. Nobody is notified: the caller wakes runners."""
    p = [f"${first + n}" for n in range(1, 8)]
    return f"""queued AS (
    INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, max_attempts, subject_id, created_at)
    SELECT {p[0]}::uuid, {p[1]}::text, {p[2]}::text, {p[3]}::jsonb, {p[4]}::timestamptz, {p[5]}::int,
           {p[6]}::uuid, now()
     WHERE {only_if}
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING kind
)"""


def enqueue_parameters(job: NewJob | None) -> list[Any]:
    """The parameters of `enqueue_sql`: nulls for no job (its `only_if` must then be false)."""
    if job is None:
        return [None] * 7
    return [uuid7(), *msgspec.structs.astuple(job)]


# The job, and the notification sent on commit only when it was added.
_ENQUEUE = f"WITH {enqueue_sql(0, only_if='true')} SELECT count(pg_notify($8, kind)) FROM queued"
_COLUMNS = ", ".join(JobRow.__struct_fields__)
_RETURNING = ", ".join(f"j.{name}" for name in JobRow.__struct_fields__)


def _row(record: Any) -> JobRow:
    return JobRow(**dict(record.items()))


async def enqueue(
    conn: Connection,
    *,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    run_at: datetime,
    max_attempts: int,
    subject_id: UUID | None = None,
) -> bool:
    """Add a job unless one with `dedupe_key` exists; True when this call added it.

    The payload must hold ids and counts only. Runners are notified when the caller's
    transaction commits.
    """
    job = NewJob(
        kind=kind,
        dedupe_key=dedupe_key,
        payload=payload,
        run_at=run_at,
        max_attempts=max_attempts,
        subject_id=subject_id,
    )
    return bool(await conn.fetchval(_ENQUEUE, *enqueue_parameters(job), JOBS_CHANNEL))


LEASE = f"""
WITH due AS (
    SELECT id FROM jobs
     WHERE state = 'pending' AND run_at <= now() AND kind = ANY($1::text[]) AND attempts < max_attempts
     ORDER BY run_at
     LIMIT $3
       FOR UPDATE SKIP LOCKED
), spent AS (
    UPDATE jobs
       SET state = 'failed', finished_at = now(), leased_by = NULL, leased_until = NULL,
           last_error = 'lease lapsed during the last attempt'
     WHERE state = 'pending' AND run_at <= now() AND kind = ANY($1::text[]) AND attempts >= max_attempts
)
UPDATE jobs j
   SET attempts = j.attempts + 1, leased_by = $2, leased_until = now() + $4, run_at = now() + $4
  FROM due
 WHERE j.id = due.id
RETURNING {_RETURNING}
"""
"""The lease (run in `in_index_order`): the due index in order for `due`, the spent index (migration
0016) for `spent`, so its cost does not grow with the backlog."""


async def lease(
    conn: Connection | Pool, *, kinds: Sequence[str], worker: str, limit: int, lease_for: timedelta
) -> list[JobRow]:
    """Take up to `limit` due pending jobs of `kinds` for `worker`, each counting as one attempt.

    Due means `run_at` has passed: a new job, a job whose backoff is over, or one whose lease
    lapsed (its worker died or hung). Rows another transaction is leasing are skipped, so runners
    never wait for one another and never take the same job. A job whose lease lapsed during its
    last attempt is parked as `failed` instead: a step that kills its worker is not retried forever.
    """
    async with in_index_order(conn) as held:
        rows = await held.fetch(LEASE, list(kinds), worker, limit, lease_for)
    return [_row(row) for row in rows]


async def complete(conn: Connection | Pool, job_id: UUID, *, worker: str) -> bool:
    """Mark a job done; False when `worker` no longer holds its lease (another took it over)."""
    result = await conn.execute(
        """
        UPDATE jobs SET state = 'done', finished_at = now(), leased_by = NULL, leased_until = NULL
         WHERE id = $1 AND leased_by = $2 AND state = 'pending'
        """,
        job_id,
        worker,
    )
    return result.endswith(" 1")


async def fail(conn: Connection | Pool, job_id: UUID, *, worker: str, error: str, retry_in: timedelta) -> str | None:
    """Record a failed attempt: due again after `retry_in`, or parked as `failed` after its last attempt.

    Returns the job's new state (`pending` or `failed`), or None when `worker` no longer holds it.
    `error` must hold no personal value.
    """
    state: str | None = await conn.fetchval(
        """
        UPDATE jobs
           SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
               finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
               run_at = now() + $4, last_error = $3, leased_by = NULL, leased_until = NULL
         WHERE id = $1 AND leased_by = $2 AND state = 'pending'
        RETURNING state
        """,
        job_id,
        worker,
        error,
        retry_in,
    )
    return state


async def retry(conn: Connection, job_id: UUID) -> JobRow | None:
    """Put a failed job back with fresh attempts, due now; None when no failed job has that id."""
    row = await conn.fetchrow(
        f"""
        UPDATE jobs j SET state = 'pending', attempts = 0, run_at = now(), finished_at = NULL
         WHERE id = $1 AND state = 'failed'
        RETURNING {_RETURNING}
        """,
        job_id,
    )
    if row is None:
        return None
    await notify(conn, JOBS_CHANNEL, row["kind"])
    return _row(row)


async def fetch(conn: Connection | Pool, job_id: UUID) -> JobRow | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else _row(row)


async def fetch_by_key(conn: Connection | Pool, dedupe_key: str) -> JobRow | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE dedupe_key = $1", dedupe_key)
    return None if row is None else _row(row)


async def purge_done(conn: Connection | Pool, *, finished_before: datetime, limit: int) -> int:
    """Delete up to `limit` jobs done before `finished_before`, oldest first; failed ones stay for a
    human. How many went."""
    result = await conn.execute(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND finished_at < $1"
        " ORDER BY finished_at LIMIT $2)",
        finished_before,
        limit,
    )
    return int(result.split()[-1])
