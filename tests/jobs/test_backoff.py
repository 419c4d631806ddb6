"""Backoff arithmetic: capped exponential windows, full jitter inside them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.backoff import backoff_seconds, backoff_window

attempts = st.integers(min_value=1, max_value=10_000)
bases = st.floats(min_value=0.001, max_value=60.0)
caps = st.floats(min_value=0.001, max_value=86_400.0)
draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(attempt=attempts, base=bases, cap=caps, draw=draws)
def test_a_wait_lies_in_its_window_and_never_exceeds_the_cap(
    attempt: int, base: float, cap: float, draw: float
) -> None:
    wait = backoff_seconds(attempt, base=base, cap=cap, draw=draw)
    assert 0.0 <= wait <= backoff_window(attempt, base=base, cap=cap) <= cap


@given(attempt=attempts, base=bases, cap=caps)
def test_windows_double_until_the_cap(attempt: int, base: float, cap: float) -> None:
    window, following = backoff_window(attempt, base=base, cap=cap), backoff_window(attempt + 1, base=base, cap=cap)
    assert following == min(cap, 2 * window) or following == cap


@given(attempt=attempts, base=bases, cap=caps)
def test_the_whole_window_is_used(attempt: int, base: float, cap: float) -> None:
    assert backoff_seconds(attempt, base=base, cap=cap, draw=0.0) == 0.0
    assert backoff_seconds(attempt, base=base, cap=cap, draw=0.5) == pytest.approx(
        backoff_window(attempt, base=base, cap=cap) / 2
    )


def test_the_first_windows() -> None:
    assert [backoff_window(n, base=1.0, cap=10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize(("attempt", "draw"), [(0, 0.5), (1, 1.0), (1, -0.1)])
def test_nonsense_is_refused(attempt: int, draw: float) -> None:
    with pytest.raises(ValueError, match=r"attempts|draw"):
        backoff_seconds(attempt, base=1.0, cap=10.0, draw=draw)
