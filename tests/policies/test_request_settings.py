"""The `[requests]` section and the `object` request type: approvals, the verification recipient, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    Approval,
    Jurisdiction,
    Policy,
    PolicyInvalid,
    RequestType,
    due_dates,
    parse_policy,
)
from tests.policies.samples import MINIMAL_POLICY

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
quick = settings(max_examples=60, deadline=None)


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(text, source="p.toml")
    return [f"{problem.path}: {problem.message}" for problem in refused.value.problems]


def test_the_shop_names_its_mailer_as_the_verification_recipient(shop: Policy) -> None:
    assert shop.requests.verification_recipient == "mailer"


def test_a_type_the_section_lists_as_manual_waits_for_approval(shop: Policy) -> None:
    assert shop.requests.rule_for(RequestType.ERASURE).approval is Approval.MANUAL


def test_a_type_the_section_does_not_list_runs_automatically(shop: Policy) -> None:
    assert shop.requests.rule_for(RequestType.ACCESS).approval is Approval.AUTOMATIC


def test_without_the_section_every_type_is_automatic_and_no_codes_are_delivered(minimal: Policy) -> None:
    assert minimal.requests.verification_recipient is None
    assert {minimal.requests.rule_for(kind).approval for kind in RequestType} == {Approval.AUTOMATIC}


def test_the_verification_recipient_must_be_declared() -> None:
    text = MINIMAL_POLICY + '\n[requests]\nverification_recipient = "ghost"\n'
    assert problems_of(text) == ["requests.verification_recipient: 'ghost' is not a declared recipient"]


def test_an_unknown_approval_is_refused_with_its_path() -> None:
    text = MINIMAL_POLICY + '\n[requests.erasure]\napproval = "sometimes"\n'
    assert problems_of(text) == ["requests.erasure.approval: 'sometimes' is not one of: automatic, manual"]


def test_an_unknown_request_type_in_the_section_is_refused() -> None:
    text = MINIMAL_POLICY + '\n[requests.forget]\napproval = "manual"\n'
    (problem,) = problems_of(text)
    assert problem.startswith("requests.forget: unknown key")


def test_an_objection_can_have_its_own_deadline() -> None:
    text = MINIMAL_POLICY + '\n[jurisdictions.lgpd.deadlines.object]\nrespond = { count = 5, unit = "days" }\n'
    policy = parse_policy(text, source="p.toml")
    due = due_dates(RequestType.OBJECT, policy.jurisdictions[Jurisdiction.LGPD], datetime(2025, 3, 3, tzinfo=UTC))
    assert due.respond_by == date(2025, 3, 8)


@quick
@given(day=days, jurisdiction=st.sampled_from(list(Jurisdiction)))
def test_an_objection_without_its_own_deadline_takes_the_default(
    minimal: Policy, day: date, jurisdiction: Jurisdiction
) -> None:
    rules = minimal.jurisdictions[jurisdiction]
    at = datetime.combine(day, time(9), tzinfo=UTC)
    assert rules.deadlines.object is None
    assert due_dates(RequestType.OBJECT, rules, at) == due_dates(RequestType.ACCESS, rules, at)


@quick
@given(day=days, kind=st.sampled_from(list(RequestType)), jurisdiction=st.sampled_from(list(Jurisdiction)))
def test_every_request_is_due_after_it_is_received_and_an_extension_only_adds_time(
    shop: Policy, day: date, kind: RequestType, jurisdiction: Jurisdiction
) -> None:
    due = due_dates(kind, shop.jurisdictions[jurisdiction], datetime.combine(day, time(23, 59), tzinfo=UTC))
    assert due.respond_by > day
    assert due.acknowledge_by is None or day < due.acknowledge_by <= due.respond_by
    assert due.extended_by is None or due.extended_by > due.respond_by
