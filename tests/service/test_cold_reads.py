"""Coalesced cold reads: concurrent cache misses share queries, and each gets what it asked for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from consent.runtime import Runtime
from consent.service.checking.cold_reads import ColdReads
from consent.store import consent_state
from tests.helpers import grant_analytics


def index_of(runtime: Runtime, device: str) -> bytes:
    return runtime.subjects.index_of(runtime.subjects.identifier("device_id", device))


@pytest.fixture
async def make_reads(runtime: Runtime) -> AsyncIterator[Callable[..., ColdReads]]:
    """`make_reads(slots=...)`: a ColdReads of its own, closed (with its connections) after the test."""
    made: list[ColdReads] = []

    def make(**options: Any) -> ColdReads:
        made.append(ColdReads(runtime.database_url, **options))
        return made[-1]

    yield make
    for reads in made:
        await reads.close()


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of identifiers of each query sent to PostgreSQL."""
    sent: list[int] = []
    resolve = consent_state.resolve

    async def counted(*args: Any) -> Any:
        sent.append(len(args[1]))
        return await resolve(*args)

    monkeypatch.setattr(consent_state, "resolve", counted)
    return sent


async def test_concurrent_misses_share_queries_and_each_finds_its_subject(
    runtime: Runtime, queries: list[int], make_reads: Callable[..., ColdReads]
) -> None:
    devices = [f"d_{i:0>22}" for i in range(20)]
    recorded = {device: (await grant_analytics(runtime, device)).subject_id for device in devices}
    reads = make_reads(slots=2)
    queries.clear()  # recording read too

    async def look_up(device: str) -> set[Any]:
        candidates, states = await reads.resolve(["device_id"], [index_of(runtime, device)], [])
        assert recorded[device] in states
        return {row.subject_id for row in candidates if row.blind_index == index_of(runtime, device)}

    found = await asyncio.gather(*(look_up(device) for device in devices))

    assert found == [{recorded[device]} for device in devices]
    # Two go at once, as soon as they come; the other eighteen wait for a slot and go together.
    assert queries == [1, 1, 18]


async def test_a_lone_miss_is_sent_at_once(
    runtime: Runtime, queries: list[int], make_reads: Callable[..., ColdReads]
) -> None:
    subject = (await grant_analytics(runtime, "d_alone-0000000000000000")).subject_id
    reads = make_reads()
    queries.clear()

    _candidates, states = await reads.resolve([], [], [subject])

    assert list(states) == [subject]
    assert queries == [0]


async def test_a_failed_query_fails_its_waiters_and_the_next_query_works(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, make_reads: Callable[..., ColdReads]
) -> None:
    subject = (await grant_analytics(runtime, "d_after_failure-00000000")).subject_id
    resolve = consent_state.resolve

    async def broken(*args: Any) -> Any:
        raise OSError("the database went away")

    monkeypatch.setattr(consent_state, "resolve", broken)
    reads = make_reads(slots=1)
    outcomes = await asyncio.gather(*(reads.resolve([], [], [subject]) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(outcome, OSError) for outcome in outcomes)

    monkeypatch.setattr(consent_state, "resolve", resolve)
    _candidates, states = await reads.resolve([], [], [subject])
    assert list(states) == [subject]


async def test_a_caller_going_away_does_not_cancel_the_query_of_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, make_reads: Callable[..., ColdReads]
) -> None:
    subject = (await grant_analytics(runtime, "d_shared-000000000000000")).subject_id
    resolve = consent_state.resolve
    release = asyncio.Event()

    async def slow(*args: Any) -> Any:
        await release.wait()
        return await resolve(*args)

    monkeypatch.setattr(consent_state, "resolve", slow)
    reads = make_reads(slots=1)
    first = asyncio.create_task(reads.resolve([], [], [subject]))  # holds the only slot
    await asyncio.sleep(0)
    leaving = asyncio.create_task(reads.resolve([], [], [subject]))  # these two share the next query
    staying = asyncio.create_task(reads.resolve([], [], [subject]))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()

    for task in (first, staying):
        _candidates, states = await task
        assert list(states) == [subject]
    assert leaving.cancelled()
