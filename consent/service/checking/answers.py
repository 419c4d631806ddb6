"""Answering "may I use subject S for purpose P?": the check path, read-only and cache-first.

A check resolves the subject from its identifier (blind index, cached), reads
its consent state (cached, NOTIFY-invalidated), and asks the decision engine
for every purpose, unless the snapshot's memo still holds the answer (see
`decision_memo`). Whatever is not cached, for one check or a batch of a
thousand, is read in a single round trip (`checked_subjects`). An unknown
subject is not an error: its purposes are decided on an empty state
(`not_asked` where consent is needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from consent.errors import InvalidInput
from consent.service.checking.checked_subjects import CheckedSubject, find_checked_subjects
from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.decision_memo import Question
from consent.service.checking.state_cache import EMPTY, StateCache, SubjectSnapshot
from consent.service.policy_versions import ActivePolicy
from consent.service.subjects.identifiers import Identifier, Subjects
from policies import NO_SIGNALS, Decision, Jurisdiction, Signals, SubjectState, decide, decision_holds_until

__all__ = ["CheckAnswer", "CheckQuery", "answer_checks", "decide_all", "decisions_for", "question"]

_GPC = Signals(gpc=True)
# "Holds for good", as a time every `now` is before.
_FOREVER = datetime.max.replace(tzinfo=UTC)


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
    return _decide_all(active, snapshot, question(jurisdiction, gpc, purposes), now, field)[0]


def question(jurisdiction: Jurisdiction, gpc: bool, purposes: Sequence[str] | None) -> Question:
    """What a check asks of a subject's snapshot, as the memo keys it."""
    return jurisdiction, gpc, None if purposes is None else tuple(purposes)


def decisions_for(
    active: ActivePolicy, snapshot: SubjectSnapshot, asked: Question, now: datetime
) -> dict[str, Decision]:
    """`decide_all` for the `question` asked, from the snapshot's memo while it holds.

    The dict may be shared with other checks: read it, never change it. InvalidInput names
    `purposes[i]` for an unknown purpose (an error is never memoised).
    """
    memo = snapshot.decided
    decisions = memo.get(active, asked, now)
    if decisions is None:
        decisions, until = _decide_all(active, snapshot, asked, now, "purposes")
        if until > now:
            memo.put(active, asked, decisions, since=now, until=until)
    return decisions


def _decide_all(
    active: ActivePolicy, snapshot: SubjectSnapshot, asked: Question, now: datetime, field: str
) -> tuple[dict[str, Decision], datetime]:
    """The decisions, and until when all of them hold (`now`: do not keep them)."""
    jurisdiction, gpc, purposes = asked
    policy = active.policy
    rules = policy.jurisdictions[jurisdiction]
    signals = _GPC if gpc else NO_SIGNALS
    consents, facts = snapshot.consents, snapshot.facts
    decisions: dict[str, Decision] = {}
    until = _FOREVER
    for position, purpose_id in enumerate(policy.purposes if purposes is None else purposes):
        purpose = policy.purposes.get(purpose_id)
        if purpose is None:
            raise InvalidInput("not a purpose of the active policy", field=f"{field}[{position}]")
        state = SubjectState(consent=consents.get(purpose_id), facts=facts)
        decisions[purpose_id] = decide(purpose, state, rules, signals, now)
        holds_until = decision_holds_until(purpose, state, rules, now)
        if holds_until is not None and holds_until < until:
            until = holds_until
    return decisions, until


async def answer_checks(
    reads: ColdReads,
    subjects: Subjects,
    states: StateCache,
    active: ActivePolicy,
    queries: Sequence[CheckQuery],
    *,
    reveal_contacts: bool,
) -> list[CheckAnswer]:
    """Answer checks in order; errors name `purposes[j]`.

    `reveal_contacts`: whether a check by email or phone answers the subject id (`checked_subjects.CONTACT_KINDS`).
    """
    wanted = [CheckedSubject(identifier=query.identifier, subject_id=query.subject_id) for query in queries]
    await find_checked_subjects(reads, subjects, states, wanted, reveal_contacts=reveal_contacts)
    now = datetime.now(UTC)
    answers = []
    for query, checked in zip(queries, wanted, strict=True):
        # An unknown (or erased) subject is decided as nobody we know, and answered as such.
        snapshot = checked.snapshot or EMPTY
        jurisdiction = query.jurisdiction or snapshot.jurisdiction or Jurisdiction.DEFAULT
        decisions = decisions_for(active, snapshot, question(jurisdiction, query.gpc, query.purposes), now)
        answers.append(
            CheckAnswer(
                subject_id=checked.answered_id,
                jurisdiction=jurisdiction,
                policy_version=active.version,
                decisions=decisions,
            )
        )
    return answers
