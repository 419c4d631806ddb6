"""A database out of reach is an outage to report as one (503, try again), never as the service's own failure."""

from __future__ import annotations

from consent.errors import Unavailable
from consent.store.pool import database_unreachable

__all__ = ["RETRY_AFTER_SECONDS", "outage"]

# What `Retry-After` asks of a client: long enough not to hammer a restarting database, short enough to
# catch up soon after it is back.
RETRY_AFTER_SECONDS = 1


def outage(exc: BaseException) -> Unavailable | None:
    """The `Unavailable` that reports `exc` to a caller when `exc` says the database is out of reach."""
    if database_unreachable(exc):
        return Unavailable("the database cannot be reached at the moment; try again shortly")
    return None
