"""The job runner against a real PostgreSQL: leases, takeover, backoff, parking, retry."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from consent.jobs.runner import JobFailed, JobRunner
from consent.service.foreground import Foreground
from consent.store import jobs as store
from consent.store.jobs import JobRow
from consent.store.notifications import Notifications
from consent.store.pool import Pool, transaction
from tests.helpers import eventually
from tests.jobs.conftest import MakeRunner


async def enqueue(pool: Pool, key: str, *, kind: str = "step", max_attempts: int = 5, **payload: object) -> bool:
    async with transaction(pool) as conn:
        return await store.enqueue(
            conn,
            kind=kind,
            dedupe_key=key,
            payload=dict(payload),
            run_at=datetime.now(UTC),
            max_attempts=max_attempts,
        )


async def states(pool: Pool) -> Counter[str]:
    return Counter(row["state"] for row in await pool.fetch("SELECT state FROM jobs"))


async def test_a_step_is_enqueued_once_per_dedupe_key(pool: Pool) -> None:
    assert await enqueue(pool, "erase:1")
    assert not await enqueue(pool, "erase:1")
    assert await pool.fetchval("SELECT count(*) FROM jobs") == 1


async def test_two_runners_never_run_a_job_twice(pool: Pool, make_runner: MakeRunner) -> None:
    runs: Counter[str] = Counter()

    async def step(job: JobRow) -> None:
        runs[job.dedupe_key] += 1
        await asyncio.sleep(0.005)

    for n in range(60):
        await enqueue(pool, f"job:{n}")
    runners = [make_runner("worker-a"), make_runner("worker-b")]
    for runner in runners:
        runner.handle("step", step)
        runner.start()

    await eventually(lambda: sum(runs.values()) >= 60)
    await eventually(lambda: _all_done(pool))
    assert set(runs.values()) == {1}
    assert len(runs) == 60
    workers = {row["leased_by"] for row in await pool.fetch("SELECT leased_by FROM jobs")}
    assert workers == {None}  # every lease was released when its job finished


async def _all_done(pool: Pool) -> bool:
    return await states(pool) == Counter(done=60)


async def test_a_lease_left_by_a_killed_worker_is_taken_over_when_it_lapses(
    pool: Pool, make_runner: MakeRunner
) -> None:
    await enqueue(pool, "orphan")
    # A worker leases the job and dies: nothing marks it done or failed.
    [held] = await store.lease(pool, kinds=["step"], worker="dead", limit=1, lease_for=timedelta(seconds=0.3))
    ran: list[JobRow] = []

    async def step(job: JobRow) -> None:
        ran.append(job)

    survivor = make_runner("survivor")
    survivor.handle("step", step)
    assert await survivor.run_due() == 0  # still leased
    await asyncio.sleep(0.35)
    assert await survivor.run_due() == 1
    await survivor.idle()
    assert [job.id for job in ran] == [held.id]
    assert ran[0].attempts == 2  # the dead worker's attempt counts
    assert await states(pool) == Counter(done=1)
    # The dead worker coming back cannot overwrite the outcome.
    assert not await store.complete(pool, held.id, worker="dead")


async def test_a_failing_job_backs_off_then_is_parked_and_a_retry_puts_it_back(
    pool: Pool, make_runner: MakeRunner
) -> None:
    await enqueue(pool, "flaky", max_attempts=3)
    attempts: list[int] = []
    healthy = False

    async def step(job: JobRow) -> None:
        attempts.append(job.attempts)
        if not healthy:
            raise JobFailed("the recipient refused the order")

    runner = make_runner()
    runner.handle("step", step)
    runner.start()
    await eventually(lambda: _state_is(pool, "failed"))
    assert attempts == [1, 2, 3]
    [parked] = await pool.fetch("SELECT attempts, last_error, finished_at, run_at FROM jobs")
    assert parked["attempts"] == 3
    assert parked["last_error"] == "the recipient refused the order"
    assert parked["finished_at"] is not None

    healthy = True
    job_id = await pool.fetchval("SELECT id FROM jobs")
    async with transaction(pool) as conn:
        retried = await store.retry(conn, job_id)
        assert retried is not None
        assert retried.state == "pending"
        assert retried.attempts == 0
        assert await store.retry(conn, job_id) is None  # only a failed job goes back
    await eventually(lambda: _state_is(pool, "done"))
    assert attempts == [1, 2, 3, 1]


async def _state_is(pool: Pool, state: str) -> bool:
    return await states(pool) == Counter({state: 1})


async def test_an_unexpected_error_is_stored_by_its_type_only(pool: Pool, make_runner: MakeRunner) -> None:
    await enqueue(pool, "leaky", max_attempts=1)

    async def step(job: JobRow) -> None:
        raise ValueError("alice@example.com is not valid")

    runner = make_runner()
    runner.handle("step", step)
    assert await runner.run_due() == 1
    await runner.idle()
    assert await pool.fetchval("SELECT last_error FROM jobs") == "ValueError"


async def test_a_handler_that_outlives_its_lease_budget_is_cancelled_and_retried(
    pool: Pool, make_runner: MakeRunner
) -> None:
    await enqueue(pool, "slow", max_attempts=2)
    calls = 0

    async def step(job: JobRow) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(10)

    runner = make_runner(lease_seconds=0.2)  # handlers get 0.15 s
    runner.handle("step", step)
    runner.start()
    await eventually(lambda: _state_is(pool, "done"))
    assert calls == 2


async def test_a_job_whose_worker_died_on_its_last_attempt_is_parked(pool: Pool, make_runner: MakeRunner) -> None:
    await enqueue(pool, "killer", max_attempts=1)
    await store.lease(pool, kinds=["step"], worker="dead", limit=1, lease_for=timedelta(seconds=0.05))
    await asyncio.sleep(0.1)
    runner = make_runner()
    runner.handle("step", lambda job: asyncio.sleep(0))
    assert await runner.run_due() == 0
    assert await pool.fetchval("SELECT last_error FROM jobs WHERE state = 'failed'") == (
        "lease lapsed during the last attempt"
    )


async def test_a_job_due_later_waits(pool: Pool, make_runner: MakeRunner) -> None:
    async with transaction(pool) as conn:
        await store.enqueue(
            conn, kind="step", dedupe_key="later", payload={}, run_at=datetime.now(UTC) + timedelta(hours=1),
            max_attempts=1,
        )  # fmt: skip
    runner = make_runner()
    runner.handle("step", lambda job: asyncio.sleep(0))
    assert await runner.run_due() == 0


async def test_stopping_lets_jobs_in_flight_finish(pool: Pool, make_runner: MakeRunner) -> None:
    await enqueue(pool, "finishing")
    started = asyncio.Event()

    async def step(job: JobRow) -> None:
        started.set()
        await asyncio.sleep(0.1)

    runner = make_runner()
    runner.handle("step", step)
    runner.start()
    await started.wait()
    await runner.stop(grace=5.0)
    assert await states(pool) == Counter(done=1)


async def test_an_enqueue_wakes_an_idle_runner_without_waiting_for_the_poll(pool: Pool, database_url: str) -> None:
    notifications = Notifications(database_url)
    runner = JobRunner(
        pool, notifications, worker="w", concurrency=1, poll_interval=60.0, lease_seconds=30.0,
        backoff_base=0.001, backoff_cap=0.001,
    )  # fmt: skip
    ran = asyncio.Event()

    async def step(job: JobRow) -> None:
        ran.set()

    runner.handle("step", step)
    await notifications.start()
    runner.start()
    try:
        await asyncio.sleep(0.1)  # the runner found nothing and waits for a minute
        await enqueue(pool, "wake-up")
        await asyncio.wait_for(ran.wait(), 5.0)
    finally:
        await runner.stop()
        await notifications.stop()


async def test_while_the_process_serves_requests_one_job_runs_at_a_time_and_they_are_paced(
    pool: Pool, make_runner: MakeRunner
) -> None:
    foreground = Foreground(window=0.01)  # idle 7.5 ms after the request ends
    running = 0
    most = 0
    starts: list[float] = []

    async def step(job: JobRow) -> None:
        nonlocal running, most
        starts.append(asyncio.get_running_loop().time())
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    for n in range(8):
        await enqueue(pool, f"busy:{n}")
    # No poll for a minute: each job is started by the pace (or the end of the one before), not by a poll.
    runner = make_runner(concurrency=4, busy=foreground.busy, busy_pace=0.05, busy_share=1.0, poll_interval=60.0)
    runner.handle("step", step)
    with foreground.serving():
        runner.start()
        await eventually(lambda: _done(pool, 8))  # background work still progresses under load
    assert most == 1
    # Paced from each lease, which the handler starts a lease query later: a few ms of slack.
    assert min(later - earlier for earlier, later in itertools.pairwise(starts)) >= 0.04

    async with transaction(pool) as conn:  # all at once: the runner finds 8 due when woken
        for n in range(8):
            await store.enqueue(
                conn, kind="step", dedupe_key=f"idle:{n}", payload={}, run_at=datetime.now(UTC), max_attempts=5
            )
    runner.wake()
    await eventually(lambda: _done(pool, 16))
    assert most == 4  # idle again: the full concurrency


async def test_while_the_process_serves_requests_a_job_s_time_is_given_back_before_the_next_starts(
    pool: Pool, make_runner: MakeRunner
) -> None:
    foreground = Foreground(window=0.01)
    spans: list[tuple[float, float]] = []

    async def step(job: JobRow) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.02)
        spans.append((started, loop.time()))

    for n in range(3):
        await enqueue(pool, f"share:{n}")
    runner = make_runner(busy=foreground.busy, busy_pace=0.001, busy_share=0.2, poll_interval=60.0)
    runner.handle("step", step)
    with foreground.serving():
        runner.start()
        await eventually(lambda: _done(pool, 3))
    # Jobs take a fifth of the time while the process serves: each 20 ms job is followed by 80 ms for callers.
    assert min(later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)) >= 0.075


async def _done(pool: Pool, count: int) -> bool:
    return (await states(pool))["done"] == count
