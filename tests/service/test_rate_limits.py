"""Token buckets: a burst, a steady rate, each process its exact share, bounded memory."""

from __future__ import annotations

import asyncio

from consent.config import load_settings
from consent.service.foreground import Foreground
from consent.service.rate_limits import RateLimits, RefusalPause, TokenBuckets
from tests.helpers import FakeClock


def test_a_burst_is_admitted_then_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_second=2.0, burst=4, share=1, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0.0] * 4
    assert buckets.take("a") == 0.5  # the next token is due in half a second
    clock.now = 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_each_key_has_its_own_bucket() -> None:
    buckets = TokenBuckets(per_second=1.0, burst=1, share=1, clock=FakeClock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_each_process_holds_its_share_so_all_together_hold_the_limit() -> None:
    clock = FakeClock()
    shares = [TokenBuckets(per_second=10.0, burst=100, share=4, clock=clock) for _ in range(4)]
    admitted = sum(1 for share in shares for _ in range(1000) if share.take("net") == 0.0)
    assert admitted == 100
    clock.now = 4.0
    admitted = sum(1 for share in shares for _ in range(1000) if share.take("net") == 0.0)
    assert admitted == 40


def test_a_share_admits_at_least_one_request() -> None:
    buckets = TokenBuckets(per_second=1.0, burst=1, share=8, clock=FakeClock())
    assert buckets.take("a") == 0.0


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    buckets = TokenBuckets(per_second=0.0, burst=0, share=1, clock=FakeClock())
    assert all(buckets.take("a") == 0.0 for _ in range(10_000))


def test_spending_after_the_fact_delays_the_next_request() -> None:
    buckets = TokenBuckets(per_second=1.0, burst=1, share=1, clock=FakeClock())
    assert buckets.wait("a") == 0.0
    buckets.spend("a")
    buckets.spend("a")
    assert buckets.wait("a") == 2.0


def test_buckets_are_bounded_in_number() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(per_second=1.0, burst=10, share=1, max_entries=100, clock=clock)
    for number in range(10_000):
        buckets.take(number)
    assert len(buckets._buckets) <= 100


def test_the_deployments_limits_are_split_over_its_processes() -> None:
    settings = load_settings({}, workers=2, instances=3, rate_limit_network_per_second=60, rate_limit_network_burst=600)
    limits = RateLimits(settings)
    assert (limits.networks.rate, limits.networks.capacity) == (10.0, 100.0)


async def test_a_refusal_pause_waits_its_delay_and_parks_at_most_its_bound() -> None:
    pause = RefusalPause(0.05, most=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(pause())
    await asyncio.sleep(0)  # the first is parked
    await pause()  # over the bound: at once
    assert loop.time() - started < 0.05
    assert not first.done()
    await first
    assert loop.time() - started >= 0.05


async def test_a_parked_refusal_is_not_counted_as_serving() -> None:
    # A flood held in the tarpit must not make the background jobs of the process yield to it.
    foreground = Foreground(window=1.0)
    pause = RefusalPause(0.3, foreground=foreground)
    with foreground.serving():
        await pause()
    assert foreground.share() < 0.1
    assert not foreground.busy()


async def test_no_delay_means_no_pause() -> None:
    pause = RefusalPause(0.0)
    task = asyncio.create_task(pause())
    await asyncio.sleep(0)
    assert task.done()
