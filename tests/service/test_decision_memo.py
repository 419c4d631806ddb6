"""Decisions memoised on a state snapshot: served while they hold, never past a grant's end,
a policy change, or the snapshot they were decided on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from consent.errors import InvalidInput
from consent.ids import uuid7
from consent.service.checking import answers as checking
from consent.service.checking.answers import decisions_for, question
from consent.service.checking.decision_memo import MAX_ENTRIES, DecisionMemo
from consent.service.checking.state_cache import StateCache, SubjectSnapshot
from consent.service.policy_versions import ActivePolicy, bundled_policy
from consent.store.notifications import Notifications
from policies import (
    NO_FACTS,
    ConsentState,
    ConsentStatus,
    Decision,
    Jurisdiction,
    JurisdictionRules,
    Purpose,
    Reason,
    Signals,
    SubjectFacts,
    SubjectState,
    decide,
    parse_policy,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SHOP, SOURCE = bundled_policy()
GDPR_ANALYTICS = question(Jurisdiction.GDPR, False, ["analytics"])


def active_policy(text: str = SHOP, *, version: int = 1) -> ActivePolicy:
    policy = parse_policy(text, source=SOURCE)
    return ActivePolicy(version=version, digest=f"v{version}", source=SOURCE, applied_at=NOW, policy=policy)


def granted(at: datetime, *, notice_version: int = 2) -> SubjectSnapshot:
    consent = ConsentState(status=ConsentStatus.GRANTED, notice_version=notice_version, recorded_at=at)
    return SubjectSnapshot(consents={"analytics": consent}, facts=NO_FACTS, jurisdiction=Jurisdiction.GDPR)


@pytest.fixture
def decided(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The purposes the check path has asked the decision engine about, in order."""
    asked: list[str] = []

    def counting(
        purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
    ) -> Decision:
        asked.append(purpose.id)
        return decide(purpose, state, rules, sent, now)

    monkeypatch.setattr(checking, "decide", counting)
    return asked


def test_a_second_check_is_answered_from_the_memo(decided: list[str]) -> None:
    active, snapshot = active_policy(), granted(NOW)
    first = decisions_for(active, snapshot, GDPR_ANALYTICS, NOW)
    again = decisions_for(active, snapshot, question(Jurisdiction.GDPR, False, ["analytics"]), NOW + timedelta(days=1))
    assert again is first
    assert first["analytics"].reason is Reason.GRANTED
    assert decided == ["analytics"]


def test_snapshots_do_not_share_decisions(decided: list[str]) -> None:
    active = active_policy()
    assert decisions_for(active, granted(NOW), GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.GRANTED
    nobody = SubjectSnapshot(consents={}, facts=NO_FACTS, jurisdiction=None)
    assert decisions_for(active, nobody, GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.NOT_ASKED
    assert decided == ["analytics", "analytics"]


def test_each_question_is_memoised_apart(decided: list[str]) -> None:
    active, snapshot = active_policy(), granted(NOW)
    under_gdpr = decisions_for(active, snapshot, GDPR_ANALYTICS, NOW)
    under_ccpa = decisions_for(active, snapshot, question(Jurisdiction.CCPA, False, ["analytics"]), NOW)
    with_gpc = decisions_for(active, snapshot, question(Jurisdiction.GDPR, True, ["analytics"]), NOW)
    every_purpose = decisions_for(active, snapshot, question(Jurisdiction.GDPR, False, None), NOW)
    assert under_gdpr["analytics"].reason is Reason.GRANTED
    assert under_ccpa["analytics"].reason is Reason.NOT_OPTED_OUT
    assert with_gpc is not under_gdpr
    assert set(every_purpose) == set(active.policy.purposes)
    assert decided.count("analytics") == 4


def test_a_memoised_grant_turns_expired_once_its_time_is_past(decided: list[str]) -> None:
    active, snapshot = active_policy(), granted(NOW - timedelta(days=394))
    grant = decisions_for(active, snapshot, GDPR_ANALYTICS, NOW)["analytics"]
    assert grant.reason is Reason.GRANTED
    assert grant.expires_at is not None
    just_before = decisions_for(active, snapshot, GDPR_ANALYTICS, grant.expires_at - timedelta(microseconds=1))
    assert just_before["analytics"] is grant
    assert decided == ["analytics"]
    at_expiry = decisions_for(active, snapshot, GDPR_ANALYTICS, grant.expires_at)
    assert at_expiry["analytics"] == Decision(allowed=False, reason=Reason.EXPIRED)
    assert decided == ["analytics", "analytics"]


def test_a_new_policy_is_never_answered_from_the_old_one_s_memo(decided: list[str]) -> None:
    snapshot = granted(NOW)
    assert decisions_for(active_policy(), snapshot, GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.GRANTED
    raised = SHOP.replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2 only clarified the wording",
        "notice_version = 3\nmin_notice_version = 3",
    )
    assert raised != SHOP
    stricter = active_policy(raised, version=2)
    assert decisions_for(stricter, snapshot, GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.NOTICE_OUTDATED
    assert decided == ["analytics", "analytics"]


def test_the_memo_goes_with_its_snapshot(decided: list[str]) -> None:
    notifications = Notifications("postgresql://unused")
    notifications.connected = True  # as if listening: the cache keeps what it is given
    states = StateCache(notifications)
    subject: UUID = uuid7()
    active = active_policy()
    states.remember(subject, granted(NOW), states.generation)
    cached = states.cached(subject)
    assert cached is not None
    assert decisions_for(active, cached, GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.GRANTED
    states.evict(subject)
    assert states.cached(subject) is None
    withdrawn = ConsentState(status=ConsentStatus.WITHDRAWN, notice_version=2, recorded_at=NOW)
    reread = SubjectSnapshot(consents={"analytics": withdrawn}, facts=NO_FACTS, jurisdiction=Jurisdiction.GDPR)
    states.remember(subject, reread, states.generation)
    assert states.cached(subject) is reread
    assert decisions_for(active, reread, GDPR_ANALYTICS, NOW)["analytics"].reason is Reason.WITHDRAWN
    assert decided == ["analytics", "analytics"]


def test_a_decision_a_birthday_can_change_is_not_memoised(decided: list[str]) -> None:
    turning_16_tomorrow = date(NOW.year - 16, NOW.month, NOW.day + 1)
    snapshot = SubjectSnapshot(
        consents={}, facts=SubjectFacts(birth_date=turning_16_tomorrow), jurisdiction=Jurisdiction.CCPA
    )
    active, asked = active_policy(), question(Jurisdiction.CCPA, False, ["advertising"])
    assert decisions_for(active, snapshot, asked, NOW)["advertising"].reason is Reason.MINOR_OPT_IN_REQUIRED
    assert decisions_for(active, snapshot, asked, NOW + timedelta(days=1))["advertising"].reason is Reason.NOT_OPTED_OUT
    assert decided == ["advertising", "advertising"]


def test_an_unknown_purpose_is_an_error_every_time(decided: list[str]) -> None:
    active, snapshot = active_policy(), granted(NOW)
    for _ in range(2):
        with pytest.raises(InvalidInput) as raised:
            decisions_for(active, snapshot, question(Jurisdiction.GDPR, False, ["analytics", "telepathy"]), NOW)
        assert raised.value.field == "purposes[1]"


def test_a_clock_set_back_is_not_answered_from_the_memo() -> None:
    memo, active = DecisionMemo(), active_policy()
    decisions = {"analytics": Decision(allowed=False, reason=Reason.EXPIRED)}
    memo.put(active, GDPR_ANALYTICS, decisions, since=NOW, until=NOW + timedelta(days=1))
    assert memo.get(active, GDPR_ANALYTICS, NOW) is decisions
    assert memo.get(active, GDPR_ANALYTICS, NOW - timedelta(microseconds=1)) is None
    assert memo.get(active, GDPR_ANALYTICS, NOW + timedelta(days=1)) is None


def test_the_memo_keeps_a_bounded_number_of_questions() -> None:
    memo, active = DecisionMemo(), active_policy()
    until = NOW + timedelta(days=1)
    asked = [question(Jurisdiction.GDPR, False, ["analytics"] * n) for n in range(MAX_ENTRIES + 1)]
    for each in asked:
        memo.put(active, each, {}, since=NOW, until=until)
    assert memo.get(active, asked[-1], NOW) == {}
    assert all(memo.get(active, each, NOW) is None for each in asked[:-1])


def test_snapshots_equal_but_for_their_memo_are_equal() -> None:
    active, snapshot = active_policy(), granted(NOW)
    decisions_for(active, snapshot, GDPR_ANALYTICS, NOW)
    assert snapshot == granted(NOW)
