"""The foreground counter: busy while a request is being served, errors included, and for a moment after."""

from __future__ import annotations

import pytest

from consent.service.foreground import Foreground


def test_busy_while_any_request_is_served_and_idle_after_each_ends_even_by_an_error() -> None:
    foreground = Foreground(linger=0.0)
    assert not foreground.busy()
    with foreground.serving():
        with foreground.serving():
            assert foreground.busy()
        assert foreground.busy()
    assert not foreground.busy()
    with pytest.raises(RuntimeError), foreground.serving():
        raise RuntimeError("a failing request")
    assert not foreground.busy()


def test_busy_lingers_after_the_last_request_so_requests_queued_behind_a_job_still_count() -> None:
    # While a job holds the event loop, new requests wait in the HTTP server and none is in flight:
    # the runner, woken as the job ends, must not take that for an idle process.
    now = 100.0
    foreground = Foreground(linger=1.0, clock=lambda: now)
    assert not foreground.busy()  # nothing served yet
    with foreground.serving():
        pass
    now += 0.5
    assert foreground.busy()
    now += 0.6
    assert not foreground.busy()
