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
from consent.service.check_subjects import CheckedSubject, SubjectReference, find_checked_subjects, subject_named
from consent.service.checking import decisions_for, question
from consent.service.policies import ActivePolicy
from consent.service.state_cache import EMPTY, StateCache
from consent.service.subjects import Subjects
from consent.store.pool import Pool
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


# A check, as far as its answer goes: (subject, jurisdiction, GPC, purposes).
_CheckKey = tuple[SubjectReference, Jurisdiction | None, bool, tuple[str, ...] | None]


async def answer_batch(
    pool: Pool,
    subjects: Subjects,
    states: StateCache,
    active: ActivePolicy,
    checks: Sequence[BatchCheck],
    *,
    answer: AnswerFactory[T_co],
) -> list[T_co]:
    """Answer `checks` in order, each built by `answer`; InvalidInput names `checks[i].<field>`.

    As the check-by-check path does, every subject is validated before any purpose, and the
    error reported is the first in the batch's order.
    """
    # Equal checks get one answer: each distinct one is answered once, in order of first appearance.
    slots: dict[_CheckKey, int] = {}
    distinct: list[tuple[int, BatchCheck]] = []
    in_order: list[int] = []
    for check in checks:
        purposes = check.purposes
        asked = (check.subject, check.jurisdiction, check.gpc, None if purposes is None else tuple(purposes))
        slot = slots.get(asked)
        if slot is None:
            slot = slots[asked] = len(distinct)
            distinct.append((len(in_order), check))
        in_order.append(slot)
    named = _name_subjects(subjects, distinct)
    await find_checked_subjects(pool, subjects, states, named.values())
    now = datetime.now(UTC)
    answers: list[T_co] = []
    for position, check in distinct:
        try:
            answers.append(_answer(active, named[check.subject], check, answer, now))
        except InvalidInput as exc:
            raise _in_check(position, exc) from None
    return [answers[slot] for slot in in_order]


def _name_subjects(
    subjects: Subjects, distinct: list[tuple[int, BatchCheck]]
) -> dict[SubjectReference, CheckedSubject]:
    named: dict[SubjectReference, CheckedSubject] = {}
    for position, check in distinct:
        ref = check.subject
        if ref not in named:
            try:
                named[ref] = subject_named(subjects, ref)
            except InvalidInput as exc:
                raise _in_check(position, exc) from None
    return named


def _answer(
    active: ActivePolicy, checked: CheckedSubject, check: BatchCheck, answer: AnswerFactory[T_co], now: datetime
) -> T_co:
    # An unknown (or erased) subject is decided as nobody we know, and answered as such.
    snapshot = checked.snapshot or EMPTY
    jurisdiction = check.jurisdiction or snapshot.jurisdiction or Jurisdiction.DEFAULT
    decisions = decisions_for(active, snapshot, question(jurisdiction, check.gpc, check.purposes), now)
    return answer(
        subject_id=checked.answered_id, policy_version=active.version, jurisdiction=jurisdiction, decisions=decisions
    )


def _in_check(position: int, exc: InvalidInput) -> InvalidInput:
    """The same error, named within the batch: `purposes[1]` of check 3 is `checks[3].purposes[1]`."""
    field = f"checks[{position}].{exc.field}" if exc.field else f"checks[{position}]"
    return InvalidInput(exc.detail, field=field, extra=exc.extra)
