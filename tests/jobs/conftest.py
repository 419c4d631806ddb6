"""Fixtures for the job runner: a pool on the test's database and runners built on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from consent.jobs.runner import JobRunner
from consent.store.pool import Pool, create_pool

MakeRunner = Callable[..., JobRunner]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    created = await create_pool(database_url, min_size=1, max_size=6)
    yield created
    await created.close()


@pytest.fixture
async def make_runner(pool: Pool) -> AsyncIterator[MakeRunner]:
    """`make_runner(worker="a", **overrides)`: a runner with fast polls and tiny backoffs, stopped after the test."""
    made: list[JobRunner] = []

    def make(worker: str = "worker-a", **overrides: Any) -> JobRunner:
        options: dict[str, Any] = {
            "concurrency": 4,
            "poll_interval": 0.02,
            "lease_seconds": 30.0,
            "backoff_base": 0.001,
            "backoff_cap": 0.005,
        }
        options.update(overrides)
        runner = JobRunner(pool, None, worker=worker, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.stop(grace=1.0)
