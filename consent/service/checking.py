"""Answering "may I use subject S for purpose P?": the check path, read-only and cache-first.

A check resolves the subject from its identifier (blind index, cached), reads
its consent state (cached, NOTIFY-invalidated), and asks the decision engine
for every purpose. Whatever is not cached, for one check or a batch of a
thousand, is read in a single round trip. An unknown subject is not an error:
its purposes are decided on an empty state (`not_asked` where consent is needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from consent.errors import InvalidInput
from consent.service.cold_reads import ColdReads
from consent.service.policies import ActivePolicy
from consent.service.state_cache import EMPTY, StateCache, SubjectSnapshot, snapshot_of
from consent.service.subjects import Identifier, Subjects
from policies import NO_SIGNALS, Decision, Jurisdiction, Signals, SubjectState, decide

__all__ = ["CheckAnswer", "CheckQuery", "answer_checks", "decide_all"]

_GPC = Signals(gpc=True)


class CheckQuery(msgspec.Struct, kw_only=True, frozen=True):
    """One check: a subject (by identifier or id), the purposes (None: all), where, and the GPC signal."""

    identifier: Identifier | None = None
    subject_id: UUID | None = None
    purposes: Sequence[str] | None = None
    jurisdiction: Jurisdiction | None = None
    gpc: bool = False


class CheckAnswer(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID | None
    jurisdiction: Jurisdiction
    policy_version: int
    decisions: dict[str, Decision]


def decide_all(
    active: ActivePolicy,
    snapshot: SubjectSnapshot,
    purposes: Sequence[str] | None,
    jurisdiction: Jurisdiction,
    *,
    gpc: bool,
    now: datetime,
    field: str = "purposes",
) -> dict[str, Decision]:
    """The engine's decision for each purpose; InvalidInput naming `field[i]` for an unknown purpose."""
    policy = active.policy
    rules = policy.jurisdictions[jurisdiction]
    signals = _GPC if gpc else NO_SIGNALS
    consents, facts = snapshot.consents, snapshot.facts
    decisions: dict[str, Decision] = {}
    for position, purpose_id in enumerate(policy.purposes if purposes is None else purposes):
        purpose = policy.purposes.get(purpose_id)
        if purpose is None:
            raise InvalidInput("not a purpose of the active policy", field=f"{field}[{position}]")
        decisions[purpose_id] = decide(
            purpose, SubjectState(consent=consents.get(purpose_id), facts=facts), rules, signals, now
        )
    return decisions


class _Pending:
    """What a set of checks still needs from the database after the caches had their say."""

    def __init__(self) -> None:
        self.identifiers: dict[bytes, list[Identifier]] = {}
        self.kinds: list[str] = []
        self.indexes: list[bytes] = []
        self.subjects: set[UUID] = set()

    def add_identifier(self, subjects: Subjects, identifier: Identifier) -> None:
        index = subjects.index_of(identifier)
        if index not in self.identifiers:
            self.kinds.append(identifier.kind)
            self.indexes.append(index)
        self.identifiers.setdefault(index, []).append(identifier)


async def _resolve(
    reads: ColdReads, subjects: Subjects, states: StateCache, queries: Sequence[CheckQuery]
) -> tuple[list[UUID | None], dict[UUID, SubjectSnapshot]]:
    """Subject ids of the queries and the snapshots of those subjects, using caches first."""
    ids: list[UUID | None] = []
    unresolved: list[int] = []
    pending = _Pending()
    for position, query in enumerate(queries):
        subject_id = query.subject_id
        if subject_id is None and query.identifier is not None:
            known, subject_id = subjects.cached(query.identifier)
            if not known:
                pending.add_identifier(subjects, query.identifier)
                unresolved.append(position)
        ids.append(subject_id)
    snapshots: dict[UUID, SubjectSnapshot] = {}
    for subject_id in ids:
        if subject_id is not None and subject_id not in snapshots:
            cached = states.cached(subject_id)
            if cached is None:
                pending.subjects.add(subject_id)
            else:
                snapshots[subject_id] = cached
    if pending.indexes or pending.subjects:
        await _read_pending(
            reads,
            subjects=subjects,
            states=states,
            queries=queries,
            pending=pending,
            ids=ids,
            unresolved=unresolved,
            snapshots=snapshots,
        )
    return ids, snapshots


async def _read_pending(
    reads: ColdReads,
    *,
    subjects: Subjects,
    states: StateCache,
    queries: Sequence[CheckQuery],
    pending: _Pending,
    ids: list[UUID | None],
    unresolved: list[int],
    snapshots: dict[UUID, SubjectSnapshot],
) -> None:
    generations, state_generation = subjects.generations(), states.generation
    candidates, rows = await reads.resolve(pending.kinds, pending.indexes, list(pending.subjects))
    by_index: dict[tuple[str, bytes], list[tuple[UUID, bytes, int, bytes]]] = {}
    for row in candidates:
        by_index.setdefault((row["kind"], bytes(row["blind_index"])), []).append(
            (row["subject_id"], bytes(row["ciphertext"]), row["master_version"], bytes(row["wrapped_key"]))
        )
    for position in unresolved:
        identifier = queries[position].identifier
        assert identifier is not None
        found = by_index.get((identifier.kind, subjects.index_of(identifier)), [])
        ids[position] = await subjects.confirm(identifier, found, generations)
    for subject_id, subject_rows in rows.items():
        snapshot = snapshot_of(subject_rows)
        states.remember(subject_id, snapshot, state_generation)
        snapshots[subject_id] = snapshot


async def answer_checks(
    reads: ColdReads,
    subjects: Subjects,
    states: StateCache,
    active: ActivePolicy,
    queries: Sequence[CheckQuery],
    *,
    batch: bool = False,
) -> list[CheckAnswer]:
    """Answer checks in order; for a batch, errors name `checks[i].purposes[j]`."""
    ids, snapshots = await _resolve(reads, subjects, states, queries)
    now = datetime.now(UTC)
    answers = []
    for position, (query, found) in enumerate(zip(queries, ids, strict=True)):
        snapshot = snapshots.get(found) if found is not None else None
        # An unknown (or erased) subject is decided as nobody we know, and answered as such.
        subject_id = found if snapshot is not None else None
        snapshot = snapshot or EMPTY
        jurisdiction = query.jurisdiction or snapshot.jurisdiction or Jurisdiction.DEFAULT
        field = f"checks[{position}].purposes" if batch else "purposes"
        decisions = decide_all(active, snapshot, query.purposes, jurisdiction, gpc=query.gpc, now=now, field=field)
        answers.append(
            CheckAnswer(
                subject_id=subject_id, jurisdiction=jurisdiction, policy_version=active.version, decisions=decisions
            )
        )
    return answers
