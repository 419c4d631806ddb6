"""The housekeeping job on the runner: once per period, across all instances.

Each period (`CONSENT_HOUSEKEEPING_INTERVAL_MINUTES`) has one job, keyed by the period's number,
so however many instances enqueue it at start-up it runs once; each run enqueues the next
period's job, due when that period starts. See `consent.service.housekeeping` for what it does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from consent.jobs.runner import JobHandler
from consent.service.housekeeping import run_housekeeping
from consent.service.policy_versions import ActivePolicy
from consent.store import jobs as store
from consent.store.jobs import JobRow
from consent.store.pool import Pool, transaction

__all__ = ["HOUSEKEEPING", "housekeeping_handler", "schedule_housekeeping"]

log = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"


def _period(moment: datetime, interval: timedelta) -> int:
    return int(moment.timestamp() // interval.total_seconds())


async def schedule_housekeeping(pool: Pool, *, at: datetime, interval: timedelta, max_attempts: int) -> None:
    """Enqueue the job of the period holding `at`, due when it starts, unless it exists."""
    period = _period(at, interval)
    start = datetime.fromtimestamp(period * interval.total_seconds(), UTC)
    async with transaction(pool) as conn:
        await store.enqueue(
            conn,
            kind=HOUSEKEEPING,
            dedupe_key=f"{HOUSEKEEPING}:{int(interval.total_seconds())}:{period}",
            payload={"period": period},
            run_at=start,
            max_attempts=max_attempts,
        )


def housekeeping_handler(
    pool: Pool, policy: Callable[[], ActivePolicy], *, interval: timedelta, retention: timedelta, max_attempts: int
) -> JobHandler:
    """The handler: a run now, then the next period's job."""

    async def run(job: JobRow) -> None:
        now = datetime.now(UTC)
        done = await run_housekeeping(pool, policy(), now=now, retention=retention)
        if done.expired or done.outbox_purged or done.jobs_purged or done.exports_purged:
            log.info(
                "housekeeping: %d consents expired, %d outbox messages, %d jobs and %d exports purged",
                done.expired,
                done.outbox_purged,
                done.jobs_purged,
                done.exports_purged,
            )
        if done.personal_fields_deleted or done.requests_deleted:
            log.info(
                "housekeeping: %d personal-record fields past their retention and %d request records"
                " past 24 months deleted",
                done.personal_fields_deleted,
                done.requests_deleted,
            )
        next_period = (job.payload["period"] + 1) * interval.total_seconds()
        await schedule_housekeeping(
            pool, at=datetime.fromtimestamp(next_period, UTC), interval=interval, max_attempts=max_attempts
        )

    return run
