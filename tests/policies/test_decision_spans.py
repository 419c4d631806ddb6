"""How long a decision holds (`decision_holds_until`): what a cache of decisions may rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    NO_SIGNALS,
    ConsentState,
    ConsentStatus,
    Jurisdiction,
    JurisdictionRules,
    LegalBasis,
    Policy,
    Purpose,
    Reason,
    Signals,
    SubjectFacts,
    SubjectState,
    decide,
    decision_holds_until,
)
from tests.policies.strategies import ZONES, consents, jurisdictions, moments, purposes, signals, states
from tests.policies.strategies import facts as facts_of

# More examples than the engine's other laws: what they must find (the last hour of a grant, a
# child's grant alone) is a small part of what the strategies draw.
law = settings(max_examples=200, deadline=None)

# Far enough to pass every lifetime a policy can declare (3650 days) from any drawn time.
_HORIZON = timedelta(days=366 * 25)
_TICK = timedelta(microseconds=1)


_NEAR = st.one_of(
    st.sampled_from([-_TICK, timedelta(0), _TICK]),
    st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(hours=1)),
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)),
)


@st.composite
def grants_by_children(draw: st.DrawFn) -> SubjectState:
    """A grant a subject of 0 to 21 gave alone (what the parental-consent rule looks at), any facts."""
    consent = msgspec.structs.replace(draw(consents(status=st.just(ConsentStatus.GRANTED))), by_guardian=False)
    age = timedelta(days=draw(st.integers(0, 22 * 366)))
    facts = msgspec.structs.replace(draw(facts_of()), birth_date=(consent.recorded_at - age).date())
    return SubjectState(consent=consent, facts=facts)


# Grants are where the clock matters: draw them often, by adults and by children, for purposes
# that need them.
any_purposes = st.one_of(purposes(), purposes(legal_basis=st.just(LegalBasis.CONSENT)))
any_states = st.one_of(states(), states(consent=consents(status=st.just(ConsentStatus.GRANTED))), grants_by_children())


@st.composite
def moments_near_a_change(draw: st.DrawFn, purpose: Purpose, state: SubjectState, rules: JurisdictionRules) -> datetime:
    """Any time, or one close to when a rule reading the clock turns: a grant's end, a minor's birthday."""
    turns = [draw(moments)]
    consent, birth_date = state.consent, state.facts.birth_date
    if consent is not None and purpose.consent_lifetime_days is not None:
        turns.append(consent.recorded_at + timedelta(days=purpose.consent_lifetime_days))
    if birth_date is not None and rules.minor_opt_in_age is not None:
        year = birth_date.year + rules.minor_opt_in_age
        birthday = date(year, 3, 1) if (birth_date.month, birth_date.day) == (2, 29) else birth_date.replace(year=year)
        turns.append(datetime.combine(birthday, time(), UTC))
    return (draw(st.sampled_from(turns)) + draw(_NEAR)).astimezone(draw(st.sampled_from(ZONES)))


@st.composite
def times_within(draw: st.DrawFn, start: datetime, until: datetime | None) -> list[datetime]:
    """Times in [start, until) (or [start, start + _HORIZON) for `None`), in any zone, both ends included."""
    end = start + _HORIZON if until is None else until
    if end <= start:
        return []
    near_the_start = draw(st.lists(_NEAR.map(abs), max_size=2))
    fractions = draw(st.lists(st.floats(0, 1, exclude_max=True), max_size=3))
    inside = [start + (end - start) * fraction for fraction in fractions] + [start + step for step in near_the_start]
    times = [start, end - _TICK, *(min(moment, end - _TICK) for moment in inside)]
    return [moment.astimezone(draw(st.sampled_from(ZONES))) for moment in times]


@law
@given(any_purposes, any_states, jurisdictions(), signals, st.data())
def test_a_decision_stays_the_same_until_the_time_it_holds_until(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, data: st.DataObject
) -> None:
    assert_holds(purpose, state, rules, sent, data)


@law
@given(purposes(legal_basis=st.just(LegalBasis.CONSENT)), grants_by_children(), jurisdictions(), signals, st.data())
def test_a_refusal_for_want_of_a_guardian_ends_with_the_grant_too(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, data: st.DataObject
) -> None:
    # `parental_consent_required` carries no expiry, yet turns `expired` when the grant would have.
    assert_holds(purpose, state, rules, sent, data)


def assert_holds(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, data: st.DataObject
) -> None:
    now = data.draw(moments_near_a_change(purpose, state, rules))
    until = decision_holds_until(purpose, state, rules, now)
    assert until is None or until >= now
    decision = decide(purpose, state, rules, sent, now)
    for later in data.draw(times_within(now, until)):
        assert decide(purpose, state, rules, sent, later) == decision, later


@settings(max_examples=100, deadline=None)
@given(any_purposes, any_states, jurisdictions(), signals, moments)
def test_a_grant_holds_exactly_until_it_expires(
    purpose: Purpose, state: SubjectState, rules: JurisdictionRules, sent: Signals, now: datetime
) -> None:
    decision = decide(purpose, state, rules, sent, now)
    until = decision_holds_until(purpose, state, rules, now)
    if decision.reason is not Reason.GRANTED or until == now:
        return
    assert until == decision.expires_at
    if until is not None:
        assert decide(purpose, state, rules, sent, until).reason is Reason.EXPIRED


def test_an_expired_grant_stays_expired_for_good(shop: Policy, now: datetime) -> None:
    granted = ConsentState(status=ConsentStatus.GRANTED, notice_version=2, recorded_at=now - timedelta(days=400))
    state = SubjectState(consent=granted)
    rules = shop.jurisdictions[Jurisdiction.GDPR]
    analytics = shop.purposes["analytics"]
    assert decide(analytics, state, rules, NO_SIGNALS, now).reason is Reason.EXPIRED
    assert decision_holds_until(analytics, state, rules, now) is None


def test_a_choice_without_a_lifetime_holds_for_good(shop: Policy, now: datetime) -> None:
    denied = ConsentState(status=ConsentStatus.DENIED, notice_version=1, recorded_at=now)
    rules = shop.jurisdictions[Jurisdiction.GDPR]
    assert decision_holds_until(shop.purposes["marketing_email"], SubjectState(consent=denied), rules, now) is None
    assert decision_holds_until(shop.purposes["analytics"], SubjectState(consent=None), rules, now) is None


def test_a_decision_that_a_birthday_can_change_is_not_to_be_kept(shop: Policy, now: datetime) -> None:
    # Turning 16 tomorrow: advertising needs an opt-in under CCPA today, and not tomorrow.
    birth_date = (now + timedelta(days=1)).date().replace(year=now.year - 16)
    state = SubjectState(consent=None, facts=SubjectFacts(birth_date=birth_date))
    rules = shop.jurisdictions[Jurisdiction.CCPA]
    advertising = shop.purposes["advertising"]
    assert decide(advertising, state, rules, NO_SIGNALS, now).reason is Reason.MINOR_OPT_IN_REQUIRED
    assert decide(advertising, state, rules, NO_SIGNALS, now + timedelta(days=1)).reason is Reason.NOT_OPTED_OUT
    assert decision_holds_until(advertising, state, rules, now) == now
