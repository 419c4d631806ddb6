"""The HTTP requests this process is serving, or served a moment ago: background work yields to them.

    with FOREGROUND.serving():   # around each request (`consent.api.observability.observe`)
        ...
    FOREGROUND.busy()            # the job runner asks before it takes more than one job

A person waiting on a request form, or a page waiting on a check, comes before an export or an
erasure whose legal deadline is weeks away. The job runner therefore runs one job at a time
while this process is serving requests, and its full concurrency only when it is idle: under a
burst, background work still progresses (never starved), and the backlog is worked off after.
One counter per process, since each worker has its own event loop and its own runner.

"Serving" lingers for a second after the last request ends. Requests in flight alone read zero
exactly when callers wait most: while a job holds the event loop (building an export's archive,
say), new requests queue in the HTTP server outside the application, and none is in flight. The
runner, woken as that job ended, saw an idle process and took the next jobs at full concurrency
and unpaced: under a burst of access requests, 211 of 212 leases saw "idle" and exports ran at
10 a second, taking the loop from the requests they were queued behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["FOREGROUND", "Foreground"]

LINGER_SECONDS = 1.0


class Foreground:
    """A counter, entered once per request (`with FOREGROUND.serving():`); a plain context manager
    rather than a generator-based one, since it wraps every request of the hot path."""

    def __init__(self, *, linger: float = LINGER_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._in_flight = 0
        self._linger = linger
        self._clock = clock
        self._last_ended = float("-inf")

    def serving(self) -> Foreground:
        return self

    def __enter__(self) -> None:
        self._in_flight += 1

    def __exit__(self, *_exc: object) -> None:
        self._in_flight -= 1
        self._last_ended = self._clock()

    def busy(self) -> bool:
        """True while a request is being served, and for `linger` seconds after the last one ended."""
        return self._in_flight > 0 or self._clock() - self._last_ended < self._linger


FOREGROUND = Foreground()
