"""How long to wait before the next attempt: capped exponential backoff with full jitter.

Pure arithmetic, with the random draw passed in, so it is tested as a property. Full jitter
(the whole window, not a band around its middle) spreads the retries of many failed steps, e.g.
every delivery to a recipient that was down, over the window instead of bunching them up.
"""

from __future__ import annotations

__all__ = ["backoff_seconds", "backoff_window"]


def backoff_window(attempt: int, *, base: float, cap: float) -> float:
    """The upper bound of the wait after failed attempt number `attempt` (1 for the first):
    `base · 2^(attempt-1)`, at most `cap`."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    # 2^64 · base exceeds any sensible cap; stopping the exponent there keeps the float finite.
    return min(cap, base * 2.0 ** min(attempt - 1, 64))


def backoff_seconds(attempt: int, *, base: float, cap: float, draw: float) -> float:
    """The wait after failed attempt `attempt`: `draw` (uniform in [0, 1)) of its window.

    >>> backoff_seconds(3, base=1.0, cap=60.0, draw=0.5)
    2.0
    """
    if not 0.0 <= draw < 1.0:
        raise ValueError("draw must be in [0, 1)")
    return draw * backoff_window(attempt, base=base, cap=cap)
