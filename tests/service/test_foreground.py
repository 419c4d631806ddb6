"""The foreground counter: busy exactly while a request is being served, errors included."""

from __future__ import annotations

import pytest

from consent.service.foreground import Foreground


def test_busy_while_any_request_is_served_and_idle_after_each_ends_even_by_an_error() -> None:
    foreground = Foreground()
    assert not foreground.busy()
    with foreground.serving():
        with foreground.serving():
            assert foreground.busy()
        assert foreground.busy()
    assert not foreground.busy()
    with pytest.raises(RuntimeError), foreground.serving():
        raise RuntimeError("a failing request")
    assert not foreground.busy()
