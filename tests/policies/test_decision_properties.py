"""Properties of the decision engine over random purposes, jurisdictions, states, signals and times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    ALLOWING_REASONS,
    ConsentStatus,
    JurisdictionRules,
    LegalBasis,
    Purpose,
    Reason,
    Regime,
    Signals,
    SubjectState,
    decide,
    regime_for,
)
from tests.policies.strategies import any_moments, consents, jurisdictions, moments, purposes, signals, states

S = TypeVar("S", bound=msgspec.Struct)

# Generating a whole purpose and jurisdiction is slow-ish; 100 examples per law keeps the suite fast.
law = settings(max_examples=100, deadline=None)

non_exempt_purposes = purposes(
    legal_basis=st.sampled_from([LegalBasis.CONSENT, LegalBasis.LEGITIMATE_INTEREST])
).filter(lambda purpose: not purpose.exempt)


@law
@given(purposes(), states(), jurisdictions(), signals, moments)
def test_allowed_goes_with_an_allowing_reason(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    decision = decide(purpose, state, rules, sent, now)
    assert decision.allowed == (decision.reason in ALLOWING_REASONS)
    assert decision.expires_at is None or decision.reason is Reason.GRANTED


@law
@given(purposes(), states(at=any_moments), jurisdictions(), signals, any_moments)
def test_decide_answers_for_any_time_in_the_calendar(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    assert isinstance(decide(purpose, state, rules, sent, now).allowed, bool)


@law
@given(
    non_exempt_purposes,
    states(consent=consents(status=st.just(ConsentStatus.WITHDRAWN))),
    jurisdictions(),
    signals,
    moments,
)
def test_withdrawal_always_denies(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    assert not decide(purpose, state, rules, sent, now).allowed


@law
@given(purposes(legal_basis=st.just(LegalBasis.CONSENT)), states(), jurisdictions(), signals, moments)
def test_only_a_valid_unexpired_current_grant_allows_an_opt_in_consent_purpose(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    decision = decide(purpose, state, rules, sent, now)
    if regime_for(purpose, rules) is not Regime.OPT_IN or not decision.allowed:
        return
    consent = state.consent
    assert consent is not None
    assert consent.status is ConsentStatus.GRANTED
    assert consent.notice_version >= purpose.min_notice_version
    assert purpose.consent_lifetime_days is not None
    assert now < consent.recorded_at + timedelta(days=purpose.consent_lifetime_days)
    assert decision.reason is Reason.GRANTED
    assert decision.expires_at == consent.recorded_at + timedelta(days=purpose.consent_lifetime_days)


@law
@given(
    non_exempt_purposes.filter(lambda purpose: purpose.sale_or_sharing),
    states(),
    jurisdictions(gpc_opt_out=st.just(True)),
    moments,
)
def test_gpc_never_allows_sale_or_sharing_where_it_is_an_opt_out(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, now: datetime
) -> None:
    assert not decide(purpose, state, rules, Signals(gpc=True), now).allowed


@law
@given(
    non_exempt_purposes.filter(lambda purpose: purpose.sale_or_sharing),
    states(),
    jurisdictions(gpc_opt_out=st.just(True)),
    moments,
)
def test_a_recorded_gpc_opt_out_is_only_undone_by_a_later_grant(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, now: datetime
) -> None:
    opted_out_at = state.facts.gpc_opt_out_at
    if opted_out_at is None or not decide(purpose, state, rules, Signals(gpc=False), now).allowed:
        return
    assert state.consent is not None
    assert state.consent.status is ConsentStatus.GRANTED
    assert state.consent.recorded_at > opted_out_at


@law
@given(
    non_exempt_purposes.filter(lambda purpose: purpose.direct_marketing), states(), jurisdictions(), signals, moments
)
def test_an_objection_to_direct_marketing_always_denies_it(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    objected = msgspec.structs.replace(state.facts, direct_marketing_objected_at=now)
    decision = decide(purpose, msgspec.structs.replace(state, facts=objected), rules, sent, now)
    assert decision.reason is Reason.OBJECTED


@law
@given(purposes(), states(), jurisdictions(), signals, moments)
def test_the_decision_is_a_function_of_its_inputs(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    # Equal copies, not the same objects: nothing may depend on identity or hidden state.
    again = decide(copy(purpose), copy(state), copy(rules), copy(sent), now)
    assert decide(purpose, state, rules, sent, now) == again


def copy(value: S) -> S:
    return msgspec.json.decode(msgspec.json.encode(value), type=type(value))
