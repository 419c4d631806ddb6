"""Rate limits as token buckets, each process holding its exact share of every limit.

A limit is stated for the whole deployment (`consent.config.Settings`); every
process enforces `limit / processes` of it (rate and burst alike), so however
requests spread over the workers and instances, together they never admit
more than the limit. Nothing is shared at run time: a check is a dict lookup
and a little arithmetic, with no database round trip and no lock, which is
what a path taken tens of thousands of times a second can afford. The price is
that a client whose requests all reach one process gets that process's share
only: stricter, never looser, and the defaults leave room for it
(docs/security.md).

>>> buckets = TokenBuckets(per_second=1.0, burst=2, share=1, clock=lambda: 0.0)
>>> [buckets.take("net") for _ in range(3)]
[0.0, 0.0, 1.0]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

from consent.config import Settings
from consent.service.foreground import FOREGROUND, Foreground

__all__ = ["RateLimits", "RefusalPause", "TokenBuckets"]


class TokenBuckets:
    """One token bucket per key (a client network, an API key), bounded in number.

    A bucket holds at most `burst / share` tokens (at least one) and gains
    `per_second / share` a second; each admitted request takes one. `per_second`
    0 turns the limit off. At `max_entries` buckets, those that have filled up
    again (indistinguishable from new ones) are dropped; if that frees too
    little, all are (a flood of distinct keys then starts them afresh, which
    bounds memory at the price of one burst each).
    """

    def __init__(
        self,
        *,
        per_second: float,
        burst: int,
        share: int,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = per_second > 0
        self.rate = per_second / share
        self.capacity = max(burst / share, 1.0)
        self._clock = clock
        self._max_entries = max_entries
        self._buckets: dict[Hashable, list[float]] = {}  # key -> [tokens, when last counted]

    def _tokens(self, key: Hashable, now: float) -> list[float]:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_entries:
                self._prune(now)
            bucket = self._buckets[key] = [self.capacity, now]
        else:
            bucket[0] = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        return bucket

    def take(self, key: Hashable) -> float:
        """Take a token for `key`: 0.0 when admitted, else the seconds until one is due."""
        if not self.enabled:
            return 0.0
        bucket = self._tokens(key, self._clock())
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0.0
        return (1.0 - bucket[0]) / self.rate

    def wait(self, key: Hashable) -> float:
        """Like `take`, without taking: 0.0 when a token is there for `key`."""
        if not self.enabled:
            return 0.0
        bucket = self._tokens(key, self._clock())
        return 0.0 if bucket[0] >= 1.0 else (1.0 - bucket[0]) / self.rate

    def spend(self, key: Hashable) -> None:
        """Take a token for something already done (the bucket may go below zero, delaying the next)."""
        if self.enabled:
            self._tokens(key, self._clock())[0] -= 1.0

    def _prune(self, now: float) -> None:
        capacity, rate = self.capacity, self.rate
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if bucket[0] + (now - bucket[1]) * rate < capacity
        }
        if len(self._buckets) >= self._max_entries // 2:
            self._buckets.clear()


class RefusalPause:
    """A refused client waits `delay` seconds for its 429: a tarpit, as nginx's `limit_req` delays.

    A client that ignores Retry-After and asks again at once would otherwise get refusals as fast
    as the service can write them, and on a small machine each takes CPU the other clients need.
    Waiting, its connections cost a parked coroutine each: a flood over keep-alive connections
    sends a few requests a second per connection instead of thousands. At most `most` answers are
    parked at once in a process; beyond that, refusals go out at once (memory stays bounded). A
    parked answer is not work: background jobs do not yield to it (`foreground`).
    """

    def __init__(self, delay: float, *, most: int = 1000, foreground: Foreground = FOREGROUND) -> None:
        self.delay = delay
        self._most = most
        self._parked = 0
        self._foreground = foreground

    async def __call__(self) -> None:
        if self.delay <= 0 or self._parked >= self._most:
            return
        self._parked += 1
        try:
            with self._foreground.waiting():
                await asyncio.sleep(self.delay)
        finally:
            self._parked -= 1


class RateLimits:
    """This process's share of every limit of the deployment, and how long its refusals wait."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        def share(per_second: float, burst: int) -> TokenBuckets:
            return TokenBuckets(per_second=per_second, burst=burst, share=settings.processes, clock=clock)

        self.networks = share(settings.rate_limit_network_per_second, settings.rate_limit_network_burst)
        self.publishable_keys = share(settings.rate_limit_key_per_second, settings.rate_limit_key_burst)
        self.secret_keys = share(settings.rate_limit_secret_key_per_second, settings.rate_limit_secret_key_burst)
        self.new_subjects = share(settings.new_subjects_per_minute / 60, settings.new_subjects_per_minute)
        self.refusal_pause = RefusalPause(settings.rate_limit_refusal_delay_ms / 1000)
