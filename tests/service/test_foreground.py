"""The foreground measure: busy while a request is in flight or requests filled a quarter of the last two
seconds, errors included; a long poll's sleep not counted."""

from __future__ import annotations

import pytest

from consent.service.foreground import Foreground
from tests.helpers import FakeClock


def test_busy_while_a_request_is_in_flight_and_while_requests_filled_a_quarter_of_the_window() -> None:
    clock = FakeClock(100.0)
    foreground = Foreground(window=2.0, share=0.25, clock=clock)
    assert not foreground.busy()  # nothing served yet
    with foreground.serving():
        assert foreground.busy()  # the start of a burst
        clock.now += 0.4
        with foreground.serving():  # a second request overlapping the first counts the time once
            clock.now += 0.2
    assert foreground.share() == pytest.approx(0.3)
    # While a job holds the event loop, requests wait outside the application and none is in flight:
    # the runner, woken as the job ends, must not take that for an idle process.
    clock.now += 0.5
    assert foreground.busy()
    clock.now += 1.6  # the period has left the window
    assert not foreground.busy()
    assert foreground.share() == 0.0


def test_an_error_ends_the_request_too() -> None:
    clock = FakeClock(100.0)
    foreground = Foreground(window=1.0, share=0.25, clock=clock)

    def failing_request() -> None:
        with foreground.serving():
            clock.now += 0.5
            raise RuntimeError("a failing request")

    with pytest.raises(RuntimeError):
        failing_request()
    clock.now += 1.0
    assert not foreground.busy()


def test_a_steady_trickle_of_requests_is_not_busy_and_a_steady_load_is() -> None:
    clock = FakeClock(100.0)
    trickle = Foreground(window=2.0, share=0.25, clock=clock)
    for _ in range(100):  # a 5 ms check every 100 ms: 5 % of the time
        with trickle.serving():
            clock.now += 0.005
        clock.now += 0.095
    assert trickle.share() == pytest.approx(0.05)
    assert not trickle.busy()

    load = Foreground(window=2.0, share=0.25, clock=clock)
    for _ in range(100):  # 30 ms of every 50 ms
        with load.serving():
            clock.now += 0.03
        clock.now += 0.02
    assert load.share() == pytest.approx(0.6)
    assert load.busy()


def test_a_long_poll_asleep_is_not_counted() -> None:
    clock = FakeClock(100.0)
    foreground = Foreground(window=2.0, share=0.25, clock=clock)
    with foreground.serving():
        clock.now += 0.01  # reads the feed: nothing new
        with foreground.waiting():
            clock.now += 25.0  # a downstream service follows the feed
        clock.now += 0.01  # answers the change it woke for
    assert foreground.share() == pytest.approx(0.01 / 2.0)  # the first read left the window long ago
    assert not foreground.busy()
    with foreground.waiting():  # outside any request it counts nothing, and leaves the count alone
        clock.now += 3.0
    assert foreground.share() == 0.0
    with foreground.serving():
        clock.now += 1.0
    assert foreground.share() == pytest.approx(0.5)
