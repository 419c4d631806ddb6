"""How much of its recent time this process spent serving HTTP requests: background work yields to them.

    with FOREGROUND.serving():   # around each request (`consent.api.observability.observe`)
        ...
        with FOREGROUND.waiting():   # inside one, around a long poll's sleep (`consent.service.feed`)
            ...
    FOREGROUND.busy()            # the job runner asks before it takes more than one job

A person waiting on a request form, or a page waiting on a check, comes before an export or an
erasure whose legal deadline is weeks away. The job runner therefore runs one job at a time, paced,
while this process is busy serving requests, and its full concurrency otherwise: under a burst,
background work still progresses (never starved), and the backlog is worked off after. One measure
per process, since each worker has its own event loop and its own runner.

"Busy" is a request in flight now, or a quarter of the last two seconds spent serving requests:

- Requests in flight alone read zero exactly when callers wait most: while a job holds the event
  loop (building an export's archive, say), new requests queue in the HTTP server outside the
  application, and none is in flight. The runner, woken as that job ended, saw an idle process and
  took the next jobs at full concurrency: under a burst of access requests, 211 of 212 leases saw
  "idle" and exports ran at 10 a second, taking the loop from the requests queued behind them.
- "A request within the last second" (the rule that replaced it) holds on every steady site: a
  process answering a check every few hundred milliseconds, a few percent of its time, counted as
  busy all day, and its exports ran at the busy pace, one every ten seconds or so.
- A long poll of the change feed is in flight for up to `CONSENT_FEED_MAX_WAIT` seconds while it
  sleeps. A downstream service following the feed kept its worker "busy" for good; the sleep
  (`waiting()`) is not counted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["FOREGROUND", "Foreground"]

WINDOW_SECONDS = 2.0
BUSY_SHARE = 0.25


class Foreground:
    """Periods with at least one request in flight, kept for `window` seconds; busy while they cover
    `share` of that window. `serving()` is a plain context manager rather than a generator-based one,
    since it wraps every request of the hot path; the clock is read only when the process goes from
    no request in flight to one, or back."""

    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        share: float = BUSY_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._share = share
        self._clock = clock
        self._in_flight = 0
        self._since = 0.0  # when the current period (requests in flight) began
        self._periods: deque[tuple[float, float]] = deque()  # ended periods that may reach into the window
        self._served = 0.0  # their total length

    def serving(self) -> Foreground:
        return self

    def __enter__(self) -> None:
        if self._in_flight == 0:
            self._since = self._clock()
        self._in_flight += 1

    def __exit__(self, *_exc: object) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            now = self._clock()
            self._periods.append((self._since, now))
            self._served += now - self._since
            self._forget_before(now - self._window)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Inside `serving()`: the request sleeps on something else (a long poll); not counted meanwhile.
        Outside any request (a test, the CLI) it counts nothing."""
        if self._in_flight == 0:
            yield
            return
        self.__exit__()
        try:
            yield
        finally:
            self.__enter__()

    def share(self) -> float:
        """The share of the last `window` seconds with at least one request in flight."""
        now = self._clock()
        start = now - self._window
        self._forget_before(start)
        served = self._served
        if self._periods and self._periods[0][0] < start:
            served -= start - self._periods[0][0]  # the oldest period began before the window
        if self._in_flight:
            served += now - max(self._since, start)
        return served / self._window

    def busy(self) -> bool:
        """A request is in flight now, or requests filled `share` of the window: the share alone would
        read idle for the first half second of a burst, and the runner would start its full
        concurrency of jobs into it."""
        return self._in_flight > 0 or self.share() >= self._share

    def _forget_before(self, start: float) -> None:
        while self._periods and self._periods[0][1] <= start:
            began, ended = self._periods.popleft()
            self._served -= ended - began
        if not self._periods:
            self._served = 0.0  # no drift from the subtractions


FOREGROUND = Foreground()
