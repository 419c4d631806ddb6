"""The decision engine, rule by rule, on the shop example's purposes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec
import pytest

from policies import (
    NO_SIGNALS,
    ConsentState,
    ConsentStatus,
    Decision,
    Jurisdiction,
    LegalBasis,
    Policy,
    Reason,
    Regime,
    Signals,
    SubjectFacts,
    SubjectState,
    decide,
    regime_for,
)

GPC = Signals(gpc=True)


def choice(status: ConsentStatus, at: datetime, *, version: int = 3, by_guardian: bool = False) -> ConsentState:
    return ConsentState(status=status, notice_version=version, recorded_at=at, by_guardian=by_guardian)


def grant(at: datetime, *, version: int = 3, by_guardian: bool = False) -> ConsentState:
    return choice(ConsentStatus.GRANTED, at, version=version, by_guardian=by_guardian)


def subject(consent: ConsentState | None = None, **facts: object) -> SubjectState:
    return SubjectState(consent=consent, facts=msgspec.convert(facts, SubjectFacts))


def run(
    policy: Policy,
    purpose_id: str,
    jurisdiction: Jurisdiction,
    state: SubjectState,
    now: datetime,
    *,
    signals: Signals = NO_SIGNALS,
) -> Decision:
    return decide(policy.purposes[purpose_id], state, policy.jurisdictions[jurisdiction], signals, now)


def born_years_before(moment: datetime, years: int) -> date:
    return moment.date().replace(year=moment.year - years)


# Purposes that need no choice.


def test_strictly_necessary_is_allowed_whatever_the_subject_did(shop: Policy, now: datetime) -> None:
    state = subject(
        choice(ConsentStatus.WITHDRAWN, now),
        gpc_opt_out_at=now,
        direct_marketing_objected_at=now,
        objected_purposes=frozenset({"strictly_necessary"}),
    )
    decision = run(shop, "strictly_necessary", Jurisdiction.GDPR, state, now, signals=GPC)
    assert decision == Decision(allowed=True, reason=Reason.NECESSARY)


def test_a_legal_obligation_is_allowed(shop: Policy, now: datetime) -> None:
    decision = run(shop, "tax_records", Jurisdiction.LGPD, subject(choice(ConsentStatus.DENIED, now)), now)
    assert decision.reason is Reason.NECESSARY


def test_a_contract_is_allowed(shop: Policy, now: datetime) -> None:
    delivery = msgspec.structs.replace(shop.purposes["fraud_prevention"], legal_basis=LegalBasis.CONTRACT)
    decision = decide(delivery, subject(), shop.jurisdictions[Jurisdiction.GDPR], NO_SIGNALS, now)
    assert decision == Decision(allowed=True, reason=Reason.CONTRACT)


def test_an_obligation_outside_the_necessary_category_is_allowed(shop: Policy, now: datetime) -> None:
    reporting = msgspec.structs.replace(shop.purposes["fraud_prevention"], legal_basis=LegalBasis.LEGAL_OBLIGATION)
    decision = decide(reporting, subject(), shop.jurisdictions[Jurisdiction.GDPR], NO_SIGNALS, now)
    assert decision == Decision(allowed=True, reason=Reason.LEGAL_OBLIGATION)


# Opt-in regimes.


@pytest.mark.parametrize("jurisdiction", [Jurisdiction.GDPR, Jurisdiction.LGPD, Jurisdiction.DEFAULT])
def test_opt_in_without_a_choice_is_not_asked(shop: Policy, now: datetime, jurisdiction: Jurisdiction) -> None:
    assert run(shop, "analytics", jurisdiction, subject(), now) == Decision(allowed=False, reason=Reason.NOT_ASKED)


@pytest.mark.parametrize("jurisdiction", [Jurisdiction.GDPR, Jurisdiction.LGPD, Jurisdiction.DEFAULT])
def test_opt_in_with_a_current_grant_is_allowed_until_it_expires(
    shop: Policy, now: datetime, jurisdiction: Jurisdiction
) -> None:
    granted_at = now - timedelta(days=30)
    decision = run(shop, "analytics", jurisdiction, subject(grant(granted_at)), now)
    assert decision == Decision(allowed=True, reason=Reason.GRANTED, expires_at=granted_at + timedelta(days=395))


@pytest.mark.parametrize(
    ("status", "reason"), [(ConsentStatus.DENIED, Reason.DENIED), (ConsentStatus.WITHDRAWN, Reason.WITHDRAWN)]
)
def test_opt_in_after_a_no_is_denied_with_that_no(
    shop: Policy, now: datetime, status: ConsentStatus, reason: Reason
) -> None:
    assert run(shop, "analytics", Jurisdiction.GDPR, subject(choice(status, now)), now).reason is reason


def test_a_grant_expires_at_the_end_of_the_purpose_lifetime(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=395)))
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now) == Decision(allowed=False, reason=Reason.EXPIRED)


def test_a_grant_is_still_valid_a_moment_before_it_expires(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=395) + timedelta(seconds=1)))
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now).allowed


def test_a_grant_under_a_notice_older_than_the_minimum_is_outdated(shop: Policy, now: datetime) -> None:
    state = subject(grant(now, version=2))
    assert run(shop, "partner_sharing", Jurisdiction.GDPR, state, now).reason is Reason.NOTICE_OUTDATED


def test_a_grant_under_an_older_notice_still_at_the_minimum_counts(shop: Policy, now: datetime) -> None:
    assert run(shop, "analytics", Jurisdiction.GDPR, subject(grant(now, version=1)), now).reason is Reason.GRANTED


def test_a_child_below_the_parental_age_needs_a_guardian_s_grant(shop: Policy, now: datetime) -> None:
    state = subject(grant(now), birth_date=born_years_before(now, 14))
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now).reason is Reason.PARENTAL_CONSENT_REQUIRED


def test_a_guardian_s_grant_counts_for_a_child(shop: Policy, now: datetime) -> None:
    state = subject(grant(now, by_guardian=True), birth_date=born_years_before(now, 14))
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now).reason is Reason.GRANTED


def test_a_child_s_own_grant_stays_invalid_after_they_come_of_age(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=60)), birth_date=born_years_before(now, 16) + timedelta(days=-30))
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now).reason is Reason.PARENTAL_CONSENT_REQUIRED


def test_a_subject_of_unknown_age_is_treated_as_an_adult(shop: Policy, now: datetime) -> None:
    assert run(shop, "analytics", Jurisdiction.GDPR, subject(grant(now)), now).reason is Reason.GRANTED


# Opt-out regimes and Global Privacy Control.


@pytest.mark.parametrize("jurisdiction", [Jurisdiction.CCPA, Jurisdiction.US_STATE])
def test_opt_out_without_a_choice_is_allowed(shop: Policy, now: datetime, jurisdiction: Jurisdiction) -> None:
    assert run(shop, "advertising", jurisdiction, subject(), now) == Decision(allowed=True, reason=Reason.NOT_OPTED_OUT)


@pytest.mark.parametrize(
    ("status", "reason"), [(ConsentStatus.DENIED, Reason.DENIED), (ConsentStatus.WITHDRAWN, Reason.WITHDRAWN)]
)
def test_opt_out_after_a_no_is_denied(shop: Policy, now: datetime, status: ConsentStatus, reason: Reason) -> None:
    assert run(shop, "advertising", Jurisdiction.CCPA, subject(choice(status, now)), now).reason is reason


def test_an_expired_grant_does_not_matter_under_opt_out(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=4000)))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.NOT_OPTED_OUT


def test_gpc_opts_out_of_sale_or_sharing_even_after_a_grant(shop: Policy, now: datetime) -> None:
    decision = run(shop, "partner_sharing", Jurisdiction.CCPA, subject(grant(now)), now, signals=GPC)
    assert decision == Decision(allowed=False, reason=Reason.GPC_OPT_OUT)


def test_a_recorded_gpc_opt_out_holds_when_the_signal_is_absent(shop: Policy, now: datetime) -> None:
    state = subject(gpc_opt_out_at=now - timedelta(days=1))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.GPC_OPT_OUT


def test_a_grant_older_than_the_gpc_opt_out_does_not_restore_it(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=2)), gpc_opt_out_at=now - timedelta(days=1))
    assert run(shop, "advertising", Jurisdiction.GDPR, state, now).reason is Reason.GPC_OPT_OUT


def test_an_explicit_grant_after_the_gpc_opt_out_opts_back_in(shop: Policy, now: datetime) -> None:
    state = subject(grant(now - timedelta(days=1)), gpc_opt_out_at=now - timedelta(days=2))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.GRANTED


def test_gpc_does_not_touch_purposes_that_are_not_sale_or_sharing(shop: Policy, now: datetime) -> None:
    state = subject(gpc_opt_out_at=now)
    assert run(shop, "marketing_email", Jurisdiction.CCPA, state, now, signals=GPC).reason is Reason.NOT_OPTED_OUT


def test_gpc_is_ignored_where_it_is_not_an_opt_out(shop: Policy, now: datetime) -> None:
    state = subject(grant(now), gpc_opt_out_at=now - timedelta(days=1))
    assert run(shop, "partner_sharing", Jurisdiction.APPI, state, now, signals=GPC).reason is Reason.GRANTED


def test_a_minor_must_opt_in_to_sale_or_sharing(shop: Policy, now: datetime) -> None:
    state = subject(birth_date=born_years_before(now, 15))
    decision = run(shop, "advertising", Jurisdiction.CCPA, state, now)
    assert decision == Decision(allowed=False, reason=Reason.MINOR_OPT_IN_REQUIRED)


def test_a_minor_s_opt_in_allows_sale_or_sharing(shop: Policy, now: datetime) -> None:
    state = subject(grant(now), birth_date=born_years_before(now, 15))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.GRANTED


def test_a_young_child_s_opt_in_needs_a_guardian(shop: Policy, now: datetime) -> None:
    state = subject(grant(now), birth_date=born_years_before(now, 12))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.PARENTAL_CONSENT_REQUIRED


def test_the_minor_rule_only_concerns_sale_or_sharing(shop: Policy, now: datetime) -> None:
    state = subject(birth_date=born_years_before(now, 15))
    assert run(shop, "marketing_email", Jurisdiction.CCPA, state, now).reason is Reason.NOT_OPTED_OUT


def test_a_subject_comes_of_age_on_their_birthday(shop: Policy, now: datetime) -> None:
    state = subject(birth_date=born_years_before(now, 16))
    assert run(shop, "advertising", Jurisdiction.CCPA, state, now).reason is Reason.NOT_OPTED_OUT


# Legitimate interest and objections.


def test_legitimate_interest_is_allowed_without_a_choice_even_under_opt_in(shop: Policy, now: datetime) -> None:
    decision = run(shop, "fraud_prevention", Jurisdiction.GDPR, subject(), now)
    assert decision == Decision(allowed=True, reason=Reason.LEGITIMATE_INTEREST)


def test_an_objection_to_a_legitimate_interest_purpose_denies_it(shop: Policy, now: datetime) -> None:
    state = subject(objected_purposes=frozenset({"fraud_prevention"}))
    assert run(shop, "fraud_prevention", Jurisdiction.GDPR, state, now).reason is Reason.OBJECTED


def test_saying_no_to_a_legitimate_interest_purpose_is_an_objection(shop: Policy, now: datetime) -> None:
    state = subject(choice(ConsentStatus.DENIED, now))
    assert run(shop, "fraud_prevention", Jurisdiction.GDPR, state, now).reason is Reason.OBJECTED


@pytest.mark.parametrize("purpose_id", ["marketing_email", "advertising", "partner_sharing"])
def test_an_objection_to_direct_marketing_denies_every_direct_marketing_purpose_for_good(
    shop: Policy, now: datetime, purpose_id: str
) -> None:
    state = subject(grant(now), direct_marketing_objected_at=now - timedelta(days=1))
    for jurisdiction in Jurisdiction:
        assert run(shop, purpose_id, jurisdiction, state, now).reason is Reason.OBJECTED


def test_an_objection_to_direct_marketing_leaves_other_purposes_alone(shop: Policy, now: datetime) -> None:
    state = subject(grant(now), direct_marketing_objected_at=now)
    assert run(shop, "analytics", Jurisdiction.GDPR, state, now).reason is Reason.GRANTED


# APPI: provision to a third party abroad.


def test_provision_to_a_country_without_equivalent_protection_needs_consent(shop: Policy, now: datetime) -> None:
    decision = run(shop, "partner_sharing", Jurisdiction.APPI, subject(), now)
    assert decision == Decision(allowed=False, reason=Reason.CROSS_BORDER_CONSENT_REQUIRED)


def test_consent_to_provision_abroad_allows_it(shop: Policy, now: datetime) -> None:
    assert run(shop, "partner_sharing", Jurisdiction.APPI, subject(grant(now)), now).reason is Reason.GRANTED


def test_cross_border_consent_is_needed_even_for_a_legitimate_interest(shop: Policy, now: datetime) -> None:
    abroad = msgspec.structs.replace(shop.purposes["fraud_prevention"], third_party_countries=frozenset({"US"}))
    decision = decide(abroad, subject(), shop.jurisdictions[Jurisdiction.APPI], NO_SIGNALS, now)
    assert decision.reason is Reason.CROSS_BORDER_CONSENT_REQUIRED


def test_provision_to_an_equivalent_country_follows_the_category_regime(shop: Policy, now: datetime) -> None:
    to_uk = msgspec.structs.replace(shop.purposes["partner_sharing"], third_party_countries=frozenset({"GB"}))
    decision = decide(to_uk, subject(), shop.jurisdictions[Jurisdiction.APPI], NO_SIGNALS, now)
    assert decision.reason is Reason.NOT_ASKED


def test_the_cross_border_rule_is_appi_s_only(shop: Policy, now: datetime) -> None:
    assert run(shop, "partner_sharing", Jurisdiction.CCPA, subject(), now).reason is Reason.NOT_OPTED_OUT


def test_use_within_the_notified_purpose_needs_no_consent_under_appi(shop: Policy, now: datetime) -> None:
    assert run(shop, "analytics", Jurisdiction.APPI, subject(), now).reason is Reason.NOT_OPTED_OUT


# The regime a banner shows.


@pytest.mark.parametrize(
    ("purpose_id", "jurisdiction", "regime"),
    [
        ("strictly_necessary", Jurisdiction.GDPR, None),
        ("tax_records", Jurisdiction.CCPA, None),
        ("fraud_prevention", Jurisdiction.GDPR, Regime.OPT_OUT),
        ("analytics", Jurisdiction.GDPR, Regime.OPT_IN),
        ("analytics", Jurisdiction.CCPA, Regime.OPT_OUT),
        ("analytics", Jurisdiction.APPI, Regime.OPT_OUT),
        ("partner_sharing", Jurisdiction.APPI, Regime.OPT_IN),
        ("advertising", Jurisdiction.US_STATE, Regime.OPT_OUT),
    ],
)
def test_regime_for(shop: Policy, purpose_id: str, jurisdiction: Jurisdiction, regime: Regime | None) -> None:
    assert regime_for(shop.purposes[purpose_id], shop.jurisdictions[jurisdiction]) == regime


# The check path.


def test_answers_without_an_expiry_are_shared_not_built_per_call(shop: Policy, now: datetime) -> None:
    first = run(shop, "analytics", Jurisdiction.GDPR, subject(), now)
    assert run(shop, "analytics", Jurisdiction.GDPR, subject(), now) is first
