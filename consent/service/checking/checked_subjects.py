"""The subjects a set of checks names, and their consent state: caches first, then one round trip.

Shared by the single check and the batch: `subject_checked` validates how a check
names its subject (`consent.service.subjects.references`), and `find_checked_subjects` reads whatever the caches cannot
answer, for one subject or a thousand, in a single query (identifier candidates
and state rows together, see `consent.store.consent_state.resolve`), shared with
concurrent checks through `consent.service.checking.cold_reads`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Protocol
from uuid import UUID

import msgspec

from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.state_cache import StateCache, SubjectSnapshot, snapshot_of
from consent.service.subjects.identifiers import Identifier, Subjects, holders_by_index
from consent.service.subjects.references import subject_named

__all__ = ["CONTACT_KINDS", "CheckedSubject", "SubjectReference", "find_checked_subjects", "subject_checked"]

# Identifiers that name a person outside the service. A check by one of them answers the subject id only
# when the caller may resolve identifiers (a compliance key): a vendor with a check key must not turn a
# list of email addresses into the ids of those who are customers, and then into their history.
CONTACT_KINDS = frozenset({"email", "phone"})


class SubjectReference(Hashable, Protocol):
    """How a check names its subject: exactly one of these is set."""

    @property
    def device_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def subject_id(self) -> UUID | None: ...


class CheckedSubject(msgspec.Struct, kw_only=True):
    """One subject a set of checks names, by identifier or by id, and what was found of it.

    After `find_checked_subjects`: `snapshot` is None for a subject that does not exist
    or was erased (answered as nobody we know), and `answered_id` is the id to answer with
    (None as well for a subject named by a contact identifier, unless the ids are revealed).
    A Struct rather than a class: a batch makes up to a thousand, and msgspec builds them faster.
    """

    identifier: Identifier | None = None
    subject_id: UUID | None = None
    snapshot: SubjectSnapshot | None = None
    answered_id: UUID | None = None


def subject_checked(subjects: Subjects, ref: SubjectReference) -> CheckedSubject:
    """The subject `ref` names, not yet looked up; InvalidInput naming `subject` or `subject.<kind>`."""
    named = subject_named(subjects, ref)
    if isinstance(named, Identifier):
        return CheckedSubject(identifier=named)
    return CheckedSubject(subject_id=named)


class _Pending:
    """What a set of checks still needs from the database after the caches had their say."""

    def __init__(self) -> None:
        self.named: dict[tuple[str, bytes], list[CheckedSubject]] = {}
        self.states: list[CheckedSubject] = []

    def add_identifier(self, subjects: Subjects, checked: CheckedSubject, identifier: Identifier) -> None:
        self.named.setdefault((identifier.kind, subjects.index_of(identifier)), []).append(checked)


async def find_checked_subjects(
    reads: ColdReads,
    subjects: Subjects,
    states: StateCache,
    wanted: Collection[CheckedSubject],
    *,
    reveal_contacts: bool,
) -> None:
    """Fill in the subject id and snapshot of each of `wanted`, reading what is not cached at once.

    `reveal_contacts`: whether a subject named by email or phone is answered with its id.
    """
    pending = _Pending()
    for checked in wanted:
        identifier = checked.identifier
        if checked.subject_id is None and identifier is not None:
            known, checked.subject_id = subjects.cached(identifier)
            if not known:
                pending.add_identifier(subjects, checked, identifier)
                states.misses += 1  # its state is read with the identifier
                continue
        if checked.subject_id is not None:
            checked.snapshot = states.cached(checked.subject_id)
            if checked.snapshot is None:
                pending.states.append(checked)
    if pending.named or pending.states:
        await _read_pending(reads, subjects, states, pending)
    for checked in wanted:
        shown = checked.snapshot is not None and (
            reveal_contacts or checked.identifier is None or checked.identifier.kind not in CONTACT_KINDS
        )
        checked.answered_id = checked.subject_id if shown else None


async def _read_pending(reads: ColdReads, subjects: Subjects, states: StateCache, pending: _Pending) -> None:
    generations, state_generation = subjects.generations(), states.generation
    kinds = [kind for kind, _ in pending.named]
    indexes = [index for _, index in pending.named]
    ids = list({checked.subject_id for checked in pending.states if checked.subject_id is not None})
    candidates, stored = await reads.resolve(kinds, indexes, ids)
    by_index = holders_by_index(candidates)
    read: dict[UUID, SubjectSnapshot] = {}
    for subject_id, subject_state in stored.items():
        snapshot = read[subject_id] = snapshot_of(subject_state)
        states.remember(subject_id, snapshot, state_generation)
    for key, named in pending.named.items():
        for checked in named:
            assert checked.identifier is not None
            checked.subject_id = await subjects.confirm(checked.identifier, by_index.get(key, []), generations)
            pending.states.append(checked)
    for checked in pending.states:
        # Absent from the rows: no such subject, or an erased one.
        checked.snapshot = read.get(checked.subject_id) if checked.subject_id is not None else None
