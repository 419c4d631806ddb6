"""The HTTP requests this process is serving now: background work yields to them.

    with FOREGROUND.serving():   # around each request (`consent.api.observability.observe`)
        ...
    FOREGROUND.busy()            # the job runner asks before it takes more than one job

A person waiting on a request form, or a page waiting on a check, comes before an export or an
erasure whose legal deadline is weeks away. The job runner therefore runs one job at a time
while this process is serving requests, and its full concurrency only when it is idle: under a
burst, background work still progresses (never starved), and the backlog is worked off after.
One counter per process, since each worker has its own event loop and its own runner.
"""

from __future__ import annotations

__all__ = ["FOREGROUND", "Foreground"]


class Foreground:
    """A counter, entered once per request (`with FOREGROUND.serving():`); a plain context manager
    rather than a generator-based one, since it wraps every request of the hot path."""

    def __init__(self) -> None:
        self._in_flight = 0

    def serving(self) -> Foreground:
        return self

    def __enter__(self) -> None:
        self._in_flight += 1

    def __exit__(self, *_exc: object) -> None:
        self._in_flight -= 1

    def busy(self) -> bool:
        """True while at least one request is being served."""
        return self._in_flight > 0


FOREGROUND = Foreground()
