"""Decisions already made on one subject snapshot, kept while the engine would answer the same.

A check on cached state re-runs the decision engine for the same rows again and
again; the answer only changes at instants the engine names itself
(`policies.decision_holds_until`: a grant's end). Each `SubjectSnapshot`
carries one `DecisionMemo`, so the memo goes whenever the state cache drops
the snapshot (a NOTIFY eviction, a clear, the size bound): it can never
outlive the state it was decided on. It holds decisions of one policy only,
compared by identity with the active one, so applying a policy retires it.
"""

from __future__ import annotations

from datetime import datetime

from consent.service.policy_versions import ActivePolicy
from policies import Decision, Jurisdiction

__all__ = ["DecisionMemo", "Question"]

Question = tuple[Jurisdiction, bool, tuple[str, ...] | None]
"""What a check asks of a snapshot, as the memo keys it: (jurisdiction, GPC signal, the purposes
in the order asked, None for all)."""

# A subject is checked for a handful of purpose lists; any more is churn, or someone
# making us keep one dict per combination of purposes. Past the bound the memo starts over.
MAX_ENTRIES = 8
# (since, until, decisions): decided at `since`, holding until `until`.
_Entry = tuple[datetime, datetime, dict[str, Decision]]
_NOTHING_YET: dict[Question, _Entry] = {}


class DecisionMemo:
    """Decisions per `Question` for one snapshot under one policy, each with the span it holds for.

    Not thread-safe, like the caches it lives in: one event loop per process.
    The decisions dict handed out is shared by every later hit: read it, never change it.
    """

    __slots__ = ("_active", "_entries")

    def __init__(self) -> None:
        self._active: ActivePolicy | None = None
        # Many snapshots are never checked (those a write builds): share one empty dict until
        # the first `put`, which always replaces it (no policy is `_active` yet).
        self._entries: dict[Question, _Entry] = _NOTHING_YET

    def get(self, active: ActivePolicy, key: Question, now: datetime) -> dict[str, Decision] | None:
        """The decisions made under `active` for `key` if they still hold at `now`, else None."""
        if active is not self._active:
            return None
        found = self._entries.get(key)
        if found is None:
            return None
        since, until, decisions = found
        # `since` guards against a clock set back: a span only holds forwards from when it was decided.
        return decisions if since <= now < until else None

    def put(
        self, active: ActivePolicy, key: Question, decisions: dict[str, Decision], *, since: datetime, until: datetime
    ) -> None:
        """Keep `decisions`, made under `active` at `since`, for checks in [since, until)."""
        if active is not self._active:
            self._active = active
            self._entries = {}
        elif len(self._entries) >= MAX_ENTRIES and key not in self._entries:
            self._entries.clear()
        self._entries[key] = (since, until, decisions)

    def __eq__(self, other: object) -> bool:
        # What was already decided is not part of a snapshot's value: equal snapshots stay equal.
        return isinstance(other, DecisionMemo)

    __hash__ = None  # type: ignore[assignment]
