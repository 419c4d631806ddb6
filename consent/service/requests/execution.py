"""Running requests in progress: one job per request on the job runner, one executor per type.

A request that reaches `in_progress` gets a `request.execute` job in the transaction that moves
it there (`RequestExecution.enqueue`), when an executor is registered for its type; a type without
one waits in progress. The job is leased, retried with backoff, parked after its last attempt and
taken over after a crash like any job (`consent.jobs.runner`).

An executor is registered per request type (the composition root, `consent.runtime`, does it):

    async def execute(conn: Connection, request: RequestRow, now: datetime) -> Executed: ...

    execution.register(RequestType.ERASURE, execute)

It runs inside the transaction that holds the request's row lock and records what it did, and
must do all its work in `conn`, so the work, the outcome, the orders and the audit entries commit
together or not at all. Any exception rolls it all back and has the job retried (the runner keeps
only the exception's type: write no personal value into it anyway). `Executed.outcome` says
what was done, kept and why (ids, names, counts: never a personal value); `Executed.order`, if
any, goes to each recipient it names (`orders.py`), and the request completes once every one
acknowledged; with no order it completes at once. After the
commit this process drops the subject from its caches; other instances drop it on the
notifications that the executor's writes raise (`notify_subject_changed` for the consent state).

A job that runs again after its work committed (its worker killed before marking it done) finds
the request executed, or no longer in progress, and does nothing: each request is executed once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import Conflict
from consent.service import audit
from consent.service.checking.state_cache import CHANNEL as STATE_CHANNEL
from consent.service.checking.state_cache import StateCache
from consent.service.requests.orders import Order, complete_if_settled, enqueue_orders, request_entry
from consent.service.requests.states import RequestState
from consent.service.subjects.identifiers import Subjects
from consent.store import jobs as jobs_store
from consent.store import requests as store
from consent.store.jobs import JobRow, NewJob
from consent.store.notifications import notify
from consent.store.pool import Connection, Pool, transaction
from consent.store.requests import NewRequest, RequestRow
from policies import RequestType

__all__ = [
    "ACTOR",
    "EXECUTE",
    "Executed",
    "Executor",
    "NoExecutor",
    "Order",
    "RequestExecution",
    "notify_subject_changed",
]

EXECUTE = "request.execute"
ACTOR = "system:requests"


class NoExecutor(Exception):
    """A job for a request type no executor runs in this version (the job is retried, then parked)."""


class Executed(msgspec.Struct, kw_only=True, frozen=True):
    outcome: dict[str, Any]
    """Kept with the request and shown with it: what was done, kept and why; nothing personal."""
    audit: dict[str, audit.AuditValue]
    """The `request.executed` audit entry's detail: the outcome in flat values."""
    order: Order | None = None


Executor = Callable[[Connection, RequestRow, datetime], Awaitable[Executed]]


async def notify_subject_changed(conn: Connection, subject_id: UUID) -> None:
    """Have every instance drop the subject's cached consent state when the caller's transaction commits."""
    await notify(conn, STATE_CHANNEL, str(subject_id))


class RequestExecution:
    """The executors of one process and the job that runs them."""

    def __init__(
        self,
        pool: Pool,
        *,
        states: StateCache,
        subjects: Subjects,
        max_attempts: int,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self.wake = wake  # the local job runner's: after a commit that added a job without notifying
        self._states = states
        self._subjects = subjects
        self._max_attempts = max_attempts
        self._executors: dict[RequestType, Executor] = {}

    def register(self, request_type: RequestType, executor: Executor) -> None:
        """Run requests of `request_type` with `executor`; register before the runner starts."""
        self._executors[request_type] = executor

    def unregister(self, request_type: RequestType) -> None:
        """Run requests of `request_type` no more: new ones wait in progress, with no job (the tests of
        the workflow's own rules keep an access request open this way)."""
        self._executors.pop(request_type, None)

    def runs(self, request_type: RequestType) -> bool:
        return request_type in self._executors

    def job_for(self, request: RequestRow | NewRequest, now: datetime) -> NewJob | None:
        """The job that runs the request; None when no executor runs its type."""
        if not self.runs(RequestType(request.type)):
            return None
        return NewJob(
            kind=EXECUTE,
            dedupe_key=_job_key(request.id),
            payload={"request_id": str(request.id)},
            run_at=now,
            max_attempts=self._max_attempts,
            subject_id=request.subject_id,
        )

    async def enqueue(self, conn: Connection, row: RequestRow, now: datetime) -> bool:
        """The request's job, in the caller's transaction; False when no executor runs its type."""
        job = self.job_for(row, now)
        if job is None:
            return False
        await jobs_store.enqueue(conn, **msgspec.structs.asdict(job))
        return True

    async def retry(self, conn: Connection, row: RequestRow) -> None:
        """Put the request's parked job back with fresh attempts (Conflict unless it is parked)."""
        job = await jobs_store.fetch_by_key(conn, _job_key(row.id))
        if job is None or await jobs_store.retry(conn, job.id) is None:
            raise Conflict("this request's work is not parked as failed", field="state")

    async def run(self, job: JobRow) -> None:
        """The job handler: execute the request once, record its outcome and orders, then forget
        the subject's cached state."""
        request_id = UUID(job.payload["request_id"])
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await store.fetch_request(conn, request_id, lock=True)
            if row is None or row.state != RequestState.IN_PROGRESS or row.executed_at is not None:
                return  # done before a crash, or rejected meanwhile
            executor = self._executors.get(RequestType(row.type))
            if executor is None:
                raise NoExecutor(row.type)
            executed = await executor(conn, row, now)
            recipients = [] if executed.order is None else executed.order.recipients
            if executed.order is not None:
                await enqueue_orders(conn, row, executed.order, now)
            row = await store.update_request(conn, row.id, now, executed_at=now, outcome=executed.outcome)
            entry = request_entry(ACTOR, "request.executed", row, **executed.audit, recipients=recipients)
            await audit.record(conn, entry, now=now)
            await complete_if_settled(conn, row, actor=ACTOR, now=now)
        self._states.evict(row.subject_id)
        self._subjects.forget_changed([row.subject_id])  # an erasure or a corrected identifier


def _job_key(request_id: UUID) -> str:
    return f"{EXECUTE}:{request_id}"
