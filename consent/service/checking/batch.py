"""The batch check: up to a thousand checks, answered in order.

Answered one by one (`checking.answer_checks`), each check costs a few objects,
an identifier normalised and hashed, and the decision engine, which is most of
a batch's time. Here equal checks (same subject reference, jurisdiction, GPC
and purposes) are answered once, a subject named again is normalised and looked
up once, decisions come from the snapshot's memo (`decision_memo`), and each
answer is built once, directly as the caller's wire type. The per-batch dicts
key the references as decoded, plaintext included: they live for one call only,
so no identifier outlives the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar
from uuid import UUID

from consent.errors import InvalidInput
from consent.service.checking.answers import decisions_for
from consent.service.checking.checked_subjects import (
    CheckedSubject,
    SubjectReference,
    find_checked_subjects,
    subject_checked,
)
from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.state_cache import EMPTY, StateCache
from consent.service.policy_versions import ActivePolicy
from consent.service.subjects.identifiers import Subjects
from policies import Decision, Jurisdiction

__all__ = ["AnswerFactory", "BatchCheck", "answer_batch"]

T_co = TypeVar("T_co", covariant=True)


class BatchCheck(Protocol):
    """One check of a batch, as decoded from the wire."""

    @property
    def subject(self) -> SubjectReference: ...
    @property
    def purposes(self) -> Sequence[str] | None: ...
    @property
    def jurisdiction(self) -> Jurisdiction | None: ...
    @property
    def gpc(self) -> bool: ...


class AnswerFactory(Protocol[T_co]):
    """Builds one answer (the caller's wire type), e.g. a msgspec Struct class with these fields."""

    def __call__(
        self,
        *,
        subject_id: UUID | None,
        policy_version: int,
        jurisdiction: Jurisdiction,
        decisions: dict[str, Decision],
    ) -> T_co: ...


# A check, as far as its answer goes: (subject, jurisdiction, GPC, purposes in order or None).
_CheckKey = tuple[SubjectReference, Jurisdiction | None, bool, tuple[str, ...] | None]


async def answer_batch(
    reads: ColdReads,
    subjects: Subjects,
    states: StateCache,
    active: ActivePolicy,
    checks: Sequence[BatchCheck],
    *,
    answer: AnswerFactory[T_co],
    reveal_contacts: bool,
) -> list[T_co]:
    """Answer `checks` in order, each built by `answer`; InvalidInput names `checks[i].<field>`.

    `reveal_contacts`: whether a check by email or phone answers the subject id (`checked_subjects.CONTACT_KINDS`).

    As the check-by-check path does, every subject is validated before any purpose, and the
    error reported is the first in the batch's order.
    """
    slots, in_order = _numbered(checks)
    named = _named_subjects(subjects, slots, in_order)
    await find_checked_subjects(reads, subjects, states, named.values(), reveal_contacts=reveal_contacts)
    answers = _answers(active, slots, named, in_order, answer)
    return [answers[slot] for slot in in_order]


def _numbered(checks: Sequence[BatchCheck]) -> tuple[dict[_CheckKey, int], list[int]]:
    """Equal checks share one answer: number the distinct ones in order of first appearance
    (so iterating `slots` goes by number), and give each check the number of its answer."""
    slots: dict[_CheckKey, int] = {}
    numbered = slots.setdefault
    in_order = [
        numbered((c.subject, c.jurisdiction, c.gpc, None if c.purposes is None else tuple(c.purposes)), len(slots))
        for c in checks
    ]
    return slots, in_order


def _named_subjects(
    subjects: Subjects, slots: dict[_CheckKey, int], in_order: list[int]
) -> dict[SubjectReference, CheckedSubject]:
    named: dict[SubjectReference, CheckedSubject] = {}
    for slot, asked in enumerate(slots):
        ref = asked[0]
        if ref not in named:
            try:
                named[ref] = subject_checked(subjects, ref)
            except InvalidInput as exc:
                raise _in_check(in_order.index(slot), exc) from None
    return named


def _answers(
    active: ActivePolicy,
    slots: dict[_CheckKey, int],
    named: dict[SubjectReference, CheckedSubject],
    in_order: list[int],
    answer: AnswerFactory[T_co],
) -> list[T_co]:
    """The answer of each distinct check, by its number."""
    now, version = datetime.now(UTC), active.version
    answers: list[T_co] = []
    for slot, (ref, jurisdiction, gpc, purposes) in enumerate(slots):
        checked = named[ref]
        # An unknown (or erased) subject is decided as nobody we know, and answered as such.
        snapshot = checked.snapshot or EMPTY
        where = jurisdiction or snapshot.jurisdiction or Jurisdiction.DEFAULT
        try:
            decisions = decisions_for(active, snapshot, (where, gpc, purposes), now)
        except InvalidInput as exc:
            raise _in_check(in_order.index(slot), exc) from None
        answers.append(
            answer(subject_id=checked.answered_id, policy_version=version, jurisdiction=where, decisions=decisions)
        )
    return answers


def _in_check(position: int, exc: InvalidInput) -> InvalidInput:
    """The same error, named within the batch: `purposes[1]` of check 3 is `checks[3].purposes[1]`.

    `position` is the first check asking what failed: the one the check-by-check path would name.
    """
    field = f"checks[{position}].{exc.field}" if exc.field else f"checks[{position}]"
    return InvalidInput(exc.detail, field=field, extra=exc.extra)
