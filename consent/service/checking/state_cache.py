"""The consent state of subjects as this process last read it, invalidated across instances.

Every committed change to `consent_state` or `subject_facts` NOTIFYs the
subject ids; each instance drops that entry before its next check, so a
withdrawal is honoured everywhere within milliseconds. While the notification
connection is down the cache is cleared and bypassed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from uuid import UUID

import msgspec

from consent.service.cache_bounds import store_bounded
from consent.service.checking.decision_memo import DecisionMemo
from consent.store import consent_state as store
from consent.store.consent_state import StoredState
from consent.store.notifications import Notifications
from consent.store.pool import Connection, Pool
from policies import NO_FACTS, ConsentState, Jurisdiction, SubjectFacts

__all__ = ["CHANNEL", "EMPTY", "StateCache", "SubjectSnapshot", "snapshot_of"]

CHANNEL = "consent_state"


class SubjectSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """What the decision engine needs of one subject: its latest choices and its facts."""

    consents: Mapping[str, ConsentState]
    facts: SubjectFacts
    jurisdiction: Jurisdiction | None
    decided: DecisionMemo = msgspec.field(default_factory=DecisionMemo)
    """Decisions already made on this snapshot; it lives and dies with it (see `decision_memo`)."""


EMPTY = SubjectSnapshot(consents={}, facts=NO_FACTS, jurisdiction=None)


def snapshot_of(stored: StoredState | None) -> SubjectSnapshot:
    """The snapshot of what is stored of a subject (None or nothing stored: EMPTY)."""
    if stored is None or (stored.facts is None and not stored.consents):
        return EMPTY
    jurisdiction = stored.jurisdiction
    return SubjectSnapshot(
        consents=stored.consents,
        facts=NO_FACTS if stored.facts is None else stored.facts,
        jurisdiction=Jurisdiction(jurisdiction) if jurisdiction else None,
    )


class StateCache:
    def __init__(self, notifications: Notifications, *, max_entries: int = 100_000) -> None:
        self._notifications = notifications
        self._entries: OrderedDict[UUID, SubjectSnapshot] = OrderedDict()
        self._generation = 0
        self._max_entries = max_entries
        # Lookups by subject answered from memory, and those that had to read the database (a check
        # by an identifier this process has not cached reads the state with it: a miss too). Plain
        # counts, folded into the Prometheus counters once a second (`consent.api.observability`).
        self.hits = 0
        self.misses = 0
        self._observers: list[tuple[Callable[[UUID], None], Callable[[], None]]] = []
        notifications.subscribe(CHANNEL, self._changed, on_reset=self.clear)

    def observe(self, changed: Callable[[UUID], None], cleared: Callable[[], None]) -> None:
        """Also tell `changed(subject_id)` of each committed change this process learns of (its own
        writes, others' notifications), and `cleared()` when changes may have been missed: the read
        replica's fences (`consent.service.replica`) follow what this cache drops."""
        self._observers.append((changed, cleared))

    def _changed(self, payload: str) -> None:
        # Comma-separated subject ids: one notification per changing statement (migration 0005).
        for subject_id in payload.split(","):
            self.evict(UUID(subject_id))

    def evict(self, subject_id: UUID) -> None:
        self._generation += 1
        self._entries.pop(subject_id, None)
        for changed, _ in self._observers:
            changed(subject_id)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        for _, cleared in self._observers:
            cleared()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, subject_id: UUID) -> SubjectSnapshot | None:
        found = self._entries.get(subject_id)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(subject_id)  # at the bound, the least recently checked go first
        return found

    async def get(self, conn: Connection | Pool, subject_id: UUID) -> SubjectSnapshot:
        found = self._entries.get(subject_id)
        if found is None:
            found = (await self.get_many(conn, (subject_id,)))[subject_id]
        else:
            self.hits += 1
        return found

    async def get_many(self, conn: Connection | Pool, subject_ids: Iterable[UUID]) -> dict[UUID, SubjectSnapshot]:
        """Snapshots of several subjects, reading all the uncached ones in one round trip."""
        result: dict[UUID, SubjectSnapshot] = {}
        missing: list[UUID] = []
        for subject_id in subject_ids:
            found = self._entries.get(subject_id)
            if found is None:
                missing.append(subject_id)
            else:
                result[subject_id] = found
        self.hits += len(result)
        self.misses += len(missing)
        if missing:
            generation = self._generation
            stored = await store.fetch_states(conn, missing)
            for subject_id in missing:
                snapshot = snapshot_of(stored.get(subject_id))
                result[subject_id] = snapshot
                self.remember(subject_id, snapshot, generation)
        return result

    @property
    def generation(self) -> int:
        """Capture before reading state rows; `remember` caches only if nothing changed since."""
        return self._generation

    def remember(self, subject_id: UUID, snapshot: SubjectSnapshot, generation: int) -> None:
        # Cache only what no invalidation can have overtaken while we were reading.
        if not self._notifications.connected or generation != self._generation or self._max_entries == 0:
            return
        store_bounded(self._entries, subject_id, snapshot, self._max_entries)
