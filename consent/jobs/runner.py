"""The job runner: background steps leased from the `jobs` table by every service instance.

    runner = JobRunner(pool, notifications, worker="host-1:4242", concurrency=4, ...)
    runner.handle("housekeeping", run_housekeeping)
    runner.start()
    ...
    await runner.stop()

- **Leasing**: a batch of due jobs of the registered kinds is taken with `FOR UPDATE SKIP LOCKED`
  (`consent.store.jobs.lease`), at most `concurrency` in flight. The lease is longer than any
  handler may run: a handler is cancelled at three quarters of the lease, so a job's outcome is
  always written while its worker still holds it, and no renewal is needed. A worker that dies
  leaves its jobs to whichever instance polls after the lease lapses.
- **Failures**: an exception records the attempt and makes the job due again after a capped
  exponential backoff with full jitter (`consent.backoff`); after its last attempt the job
  is parked as `failed` until a human retries it. Only a `JobFailed` message, or the type of any
  other exception, is stored: never a value from the job's subject.
- **Yielding**: while `busy()` (a request in flight, or requests in flight during a quarter of the
  last two seconds, a long poll's sleep not counted: `consent.service.foreground` says why),
  one job at a time instead of `concurrency`; a new one at most every `busy_pace` seconds, and not
  before the last one's duration has been given back many times over, so jobs take at most
  `busy_share` (2 %) of the process's time. A job's time in the process understates what it costs:
  an export also keeps PostgreSQL busy on the other core. Measured under a burst of access
  requests, jobs paced by `busy_pace` alone cost a fifth of the throughput; at 10 % of the time they
  still did, at 2 % they no longer do (measured while `busy()` still read requests in flight
  only, and so missed most jobs; docs/performance.md has the figures since). Background work
  thus yields the CPU its callers are waiting for, yet still progresses under a sustained burst
  (a 20 ms export about once a second per process); the backlog is worked off at full
  concurrency once the process is idle.
- **Wake-up**: an enqueue notifies `consent_jobs` when it commits, which wakes idle runners at
  once, except a request's job written with the request in one statement, whose process calls
  `wake()` (`consent.store.request_receipt` says why); otherwise runners poll every
  `poll_interval` (jobs due later, leases that lapsed, jobs added without a notification).
- **Shutdown**: no new leases; jobs in flight get `grace` seconds to finish, then are cancelled
  and their leases lapse for another instance (or this one, restarted) to take over.

Handlers must be idempotent: one killed after its effect but before the job is marked done runs
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg

from consent.backoff import backoff_seconds
from consent.store import jobs as store
from consent.store.jobs import JOBS_CHANNEL, JobRow
from consent.store.notifications import Notifications
from consent.store.pool import Pool

__all__ = ["JobFailed", "JobHandler", "JobRunner"]

log = logging.getLogger(__name__)

JobHandler = Callable[[JobRow], Awaitable[None]]

_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class JobFailed(Exception):
    """A handler's failure whose message is safe to store and log: no personal value in it."""


class JobRunner:
    def __init__(
        self,
        pool: Pool,
        notifications: Notifications | None,
        *,
        worker: str,
        concurrency: int,
        poll_interval: float,
        lease_seconds: float,
        backoff_base: float,
        backoff_cap: float,
        draw: Callable[[], float] = random.random,
        busy: Callable[[], bool] = lambda: False,
        busy_pace: float = 0.1,
        busy_share: float = 0.02,
    ) -> None:
        self._pool = pool
        self.worker = worker
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._handler_timeout = lease_seconds * 0.75
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._draw = draw
        self._busy = busy
        self._busy_pace = busy_pace
        self._rest_per_second = 1 / busy_share - 1  # while busy, after a job of d seconds, d times this idle
        self._paced_until = 0.0  # while busy, no job starts before this (the loop's clock)
        self._held_back = False  # the last look for jobs was put off by the pace
        self._handlers: dict[str, JobHandler] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        if notifications is not None:
            notifications.subscribe(JOBS_CHANNEL, self._wake_up, on_reset=lambda: self._wake_up(""))

    def handle(self, kind: str, handler: JobHandler) -> None:
        """Run `handler` for jobs of `kind`; register before `start`."""
        self._handlers[kind] = handler

    def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.create_task(self._run(), name="job-runner")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Lease nothing more; let jobs in flight finish for up to `grace` seconds, then cancel them."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._in_flight:
            _, unfinished = await asyncio.wait(self._in_flight, timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)

    async def run_due(self) -> int:
        """Lease what is due (up to the free slots), start it, and return how many were started."""
        busy = self._busy()
        now = asyncio.get_running_loop().time()
        free = (1 if busy else self._concurrency) - len(self._in_flight)
        self._held_back = busy and now < self._paced_until
        if free <= 0 or not self._handlers or self._held_back:
            return 0
        if busy:
            self._paced_until = now + self._busy_pace
        leased = await store.lease(
            self._pool, kinds=list(self._handlers), worker=self.worker, limit=free, lease_for=self._lease
        )
        for job in leased:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.kind}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(leased)

    async def idle(self) -> None:
        """Wait until no job started by this runner is still in flight (for tests and the CLI)."""
        while self._in_flight:
            await asyncio.wait(self._in_flight)

    def wake(self) -> None:
        """Look for due jobs now: a job was just added by this process without a notification."""
        self._wake.set()

    def _wake_up(self, _payload: str) -> None:
        self._wake.set()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # a slot is free

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                started = await self.run_due()
            except _DATABASE_ERRORS:
                log.exception("leasing jobs failed; retrying at the next poll")
                started = 0
            if started and not self._busy() and len(self._in_flight) < self._concurrency:
                continue  # a full batch: there may be more due
            # Held back by the pace: look again when it allows (the wake-up that asked was spent).
            paced = self._paced_until - asyncio.get_running_loop().time()
            timeout = min(self._poll_interval, max(paced, 0.0)) if self._held_back else self._poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _execute(self, job: JobRow) -> None:
        try:
            await self._handle(job)
        except TimeoutError:
            await self._record_failure(job, "timed out")
        except JobFailed as exc:
            await self._record_failure(job, str(exc))
        except Exception as exc:
            # Only the type: a driver's or library's message may quote a value.
            await self._record_failure(job, type(exc).__name__)
        else:
            try:
                if not await store.complete(self._pool, job.id, worker=self.worker):
                    log.warning("job %s (%s) finished after its lease was taken over", job.id, job.kind)
            except _DATABASE_ERRORS:
                log.exception("could not mark job %s done; it runs again when its lease lapses", job.id)

    async def _handle(self, job: JobRow) -> None:
        """The job's handler within its timeout; while the process is busy, the next job waits until
        this one's time has been given back (`busy_share`)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(self._handler_timeout):
                await self._handlers[job.kind](job)
        finally:
            finished = loop.time()
            if self._busy():
                rest = (finished - started) * self._rest_per_second
                self._paced_until = max(self._paced_until, finished + rest)

    async def _record_failure(self, job: JobRow, error: str) -> None:
        delay = backoff_seconds(job.attempts, base=self._backoff_base, cap=self._backoff_cap, draw=self._draw())
        try:
            state = await store.fail(
                self._pool, job.id, worker=self.worker, error=error, retry_in=timedelta(seconds=delay)
            )
        except _DATABASE_ERRORS:
            log.exception("could not record the failure of job %s; it runs again when its lease lapses", job.id)
            return
        if state == "failed":
            log.error("job %s (%s) failed %d times and is parked: %s", job.id, job.kind, job.attempts, error)
        elif state == "pending":
            log.warning(
                "job %s (%s) attempt %d failed (%s); retrying in %.1fs", job.id, job.kind, job.attempts, error, delay
            )
