"""The per-process consent-state cache: bounded, least recently checked first out."""

from __future__ import annotations

from consent.ids import uuid7
from consent.service.checking.state_cache import EMPTY, StateCache
from consent.store.notifications import Notifications


def test_the_state_cache_drops_the_least_recently_checked_subject_first() -> None:
    notifications = Notifications("postgresql://unused")
    notifications.connected = True  # as if listening: the cache keeps what it is given
    states = StateCache(notifications, max_entries=2)
    hot, cold, new = uuid7(), uuid7(), uuid7()
    for subject_id in (hot, cold):
        states.remember(subject_id, EMPTY, states.generation)

    assert states.cached(hot) is EMPTY
    states.remember(new, EMPTY, states.generation)

    assert states.cached(cold) is None
    assert states.cached(hot) is EMPTY
    assert states.cached(new) is EMPTY


def test_the_state_cache_counts_its_hits_and_misses() -> None:
    notifications = Notifications("postgresql://unused")
    notifications.connected = True
    states = StateCache(notifications, max_entries=1)
    known, unknown = uuid7(), uuid7()
    states.remember(known, EMPTY, states.generation)

    states.cached(known)
    states.cached(unknown)
    states.cached(known)

    assert (states.hits, states.misses, len(states)) == (2, 1, 1)
