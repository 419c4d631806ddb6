"""The decision engine: may we use this subject's data for this purpose, here, now?

`decide` runs on every check request, so it reads the policy values as they are (no copies, no
re-validation) and returns shared, prebuilt `Decision`s for every answer that carries no
expiry. It is total: for timezone-aware datetimes and values of the declared types, it returns
an answer and never raises.

The rules, in the order they apply (the first that matches decides):

1. A purpose that needs no choice is allowed: strictly necessary, contract, legal obligation.
2. An objection denies: to this purpose (Art. 21(1)), or to direct marketing, which suppresses
   every direct-marketing purpose for good (Art. 21(3)).
3. Where Global Privacy Control is an opt-out, a sale-or-sharing purpose is denied while the
   signal is sent; once recorded, it stays opted out until the subject explicitly grants again
   afterwards. A request without the signal never restores it by itself.
4. Opt-in is required for provision to a third party in a country the jurisdiction does not
   treat as equivalent (APPI Art. 28), for consent purposes whose category is opt-in in the
   jurisdiction, and for sale or sharing by a subject below the jurisdiction's opt-in age
   (CCPA §1798.120(c)). Then only a grant counts that is not withdrawn, was given under a
   notice version at least `min_notice_version`, is within the purpose's consent lifetime, and
   was given by a guardian if the subject was below the parental-consent age when giving it.
5. Otherwise the purpose is opt-out: allowed unless the subject said no. For a legitimate
   interest purpose, saying no is an objection.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec

from policies._codes import ConsentStatus, LegalBasis, PurposeCategory, Reason, Regime
from policies._model import JurisdictionRules, Purpose
from policies._state import ConsentState, Signals, SubjectFacts, SubjectState

__all__ = ["ALLOWING_REASONS", "Decision", "decide", "decision_holds_until", "regime_for"]


class Decision(msgspec.Struct, kw_only=True, frozen=True):
    """The engine's answer: allowed or not, why, and until when."""

    allowed: bool
    reason: Reason
    expires_at: datetime | None = None
    """When an allowing grant lapses; `None` when the answer does not depend on a grant's age."""


ALLOWING_REASONS = frozenset(
    {
        Reason.NECESSARY,
        Reason.CONTRACT,
        Reason.LEGAL_OBLIGATION,
        Reason.GRANTED,
        Reason.LEGITIMATE_INTEREST,
        Reason.NOT_OPTED_OUT,
    }
)
"""The reasons that come with `allowed=True`; every other reason comes with `allowed=False`."""

# One shared instance per answer without an expiry: the check path allocates nothing for them.
_PREBUILT = {reason: Decision(allowed=reason in ALLOWING_REASONS, reason=reason) for reason in Reason}
_NECESSARY = _PREBUILT[Reason.NECESSARY]
_CONTRACT = _PREBUILT[Reason.CONTRACT]
_LEGAL_OBLIGATION = _PREBUILT[Reason.LEGAL_OBLIGATION]
_LEGITIMATE_INTEREST = _PREBUILT[Reason.LEGITIMATE_INTEREST]
_NOT_OPTED_OUT = _PREBUILT[Reason.NOT_OPTED_OUT]
_OBJECTED = _PREBUILT[Reason.OBJECTED]
_GPC_OPT_OUT = _PREBUILT[Reason.GPC_OPT_OUT]
# Building a timedelta costs more than the rest of a decision; lifetimes are few (at most 3650).
_VALIDITY: dict[int, timedelta] = {}
_REFUSALS = {ConsentStatus.DENIED: _PREBUILT[Reason.DENIED], ConsentStatus.WITHDRAWN: _PREBUILT[Reason.WITHDRAWN]}


def decide(
    purpose: Purpose,
    state: SubjectState,
    jurisdiction: JurisdictionRules,
    signals: Signals,
    now: datetime,
) -> Decision:
    """Decide whether `purpose` may be used for the subject whose rows are `state`.

    `jurisdiction` is the rule set of where the subject is (see `resolve_jurisdiction`);
    `signals` what the current request carries; `now` a timezone-aware time.
    """
    exemption = _exemption(purpose)
    if exemption is not None:
        return exemption
    facts = state.facts
    if purpose.id in facts.objected_purposes or (
        purpose.direct_marketing and facts.direct_marketing_objected_at is not None
    ):
        return _OBJECTED
    consent = state.consent
    if purpose.sale_or_sharing and jurisdiction.gpc_opt_out and (signals.gpc or facts.gpc_opt_out_at is not None):
        return _after_gpc_opt_out(purpose, state, jurisdiction, signals, now)
    required = _opt_in_reason(purpose, jurisdiction, facts, now)
    if required is None:
        return _opt_out(purpose.legal_basis, consent)
    if consent is None:
        return _PREBUILT[required]
    return _judge_grant(purpose, consent, jurisdiction, facts, now)


def decision_holds_until(
    purpose: Purpose, state: SubjectState, jurisdiction: JurisdictionRules, now: datetime
) -> datetime | None:
    """Until when `decide` keeps giving, for these inputs and any signals, the answer it gives at `now`.

    For every `later` in [now, the result) and any `signals`, `decide(purpose, state, jurisdiction,
    signals, later)` equals `decide(..., signals, now)`: how long a cache may keep a decision.
    `None`: for good. `now` itself: the answer may change at any moment, so do not keep it.

    Only two rules read the clock. A grant's lifetime: at its end, what the grant decided
    (`granted`, or `parental_consent_required`, which carries no expiry) becomes `expired` for
    good, so the span ends there whatever the answer. And the minor opt-in age: it is reached at
    midnight in whatever zone `now` comes in, which no one instant captures, so a subject with a
    declared birth date is not kept where that rule can apply.
    """
    if purpose.sale_or_sharing and jurisdiction.minor_opt_in_age is not None and state.facts.birth_date is not None:
        return now
    consent = state.consent
    lifetime = purpose.consent_lifetime_days
    if consent is None or lifetime is None or consent.status is not ConsentStatus.GRANTED:
        return None
    expires_at = _expiry(consent.recorded_at, lifetime)
    return expires_at if now < expires_at else None


def regime_for(purpose: Purpose, jurisdiction: JurisdictionRules) -> Regime | None:
    """The regime a banner shows for `purpose` in `jurisdiction`, for a subject not yet known.

    `None` for purposes that need no choice. The subject's own facts can still turn an opt-out
    into an opt-in (a minor, a recorded GPC opt-out); `decide` accounts for those.
    """
    if purpose.exempt:
        return None
    if _needs_cross_border_consent(purpose, jurisdiction):
        return Regime.OPT_IN
    if purpose.legal_basis is LegalBasis.LEGITIMATE_INTEREST:
        return Regime.OPT_OUT
    return _regime_of(purpose, jurisdiction)


def _regime_of(purpose: Purpose, jurisdiction: JurisdictionRules) -> Regime:
    # Most jurisdictions list no category, and that test is cheaper than hashing the member.
    regimes = jurisdiction.regimes
    return regimes.get(purpose.category, jurisdiction.default_regime) if regimes else jurisdiction.default_regime


def _exemption(purpose: Purpose) -> Decision | None:
    """The answer for a purpose that needs no choice, or None."""
    # Identity tests: hashing an enum member (for a dict lookup) runs Python code.
    if purpose.category is PurposeCategory.NECESSARY:
        return _NECESSARY
    basis = purpose.legal_basis
    if basis is LegalBasis.CONTRACT:
        return _CONTRACT
    return _LEGAL_OBLIGATION if basis is LegalBasis.LEGAL_OBLIGATION else None


def _after_gpc_opt_out(
    purpose: Purpose, state: SubjectState, jurisdiction: JurisdictionRules, signals: Signals, now: datetime
) -> Decision:
    """Sale or sharing once GPC opted the subject out: only a later explicit grant opts back in."""
    consent, opted_out_at = state.consent, state.facts.gpc_opt_out_at
    if signals.gpc or opted_out_at is None or consent is None or consent.recorded_at <= opted_out_at:
        return _GPC_OPT_OUT
    return _judge_grant(purpose, consent, jurisdiction, state.facts, now)


def _opt_in_reason(
    purpose: Purpose, jurisdiction: JurisdictionRules, facts: SubjectFacts, now: datetime
) -> Reason | None:
    """Why an opt-in is needed (the reason to give while nothing is recorded), or None."""
    if _needs_cross_border_consent(purpose, jurisdiction):
        return Reason.CROSS_BORDER_CONSENT_REQUIRED
    if purpose.legal_basis is LegalBasis.CONSENT and _regime_of(purpose, jurisdiction) is Regime.OPT_IN:
        return Reason.NOT_ASKED
    if purpose.sale_or_sharing and _younger_than(jurisdiction.minor_opt_in_age, facts.birth_date, now):
        return Reason.MINOR_OPT_IN_REQUIRED
    return None


def _needs_cross_border_consent(purpose: Purpose, jurisdiction: JurisdictionRules) -> bool:
    equivalent = jurisdiction.equivalent_countries
    countries = purpose.third_party_countries
    return bool(countries) and equivalent is not None and not countries <= equivalent


def _opt_out(basis: LegalBasis, consent: ConsentState | None) -> Decision:
    if consent is None or consent.status is ConsentStatus.GRANTED:
        return _LEGITIMATE_INTEREST if basis is LegalBasis.LEGITIMATE_INTEREST else _NOT_OPTED_OUT
    # Saying no to a legitimate-interest purpose is an objection to it.
    return _OBJECTED if basis is LegalBasis.LEGITIMATE_INTEREST else _REFUSALS[consent.status]


def _judge_grant(
    purpose: Purpose,
    consent: ConsentState,
    jurisdiction: JurisdictionRules,
    facts: SubjectFacts,
    now: datetime,
) -> Decision:
    """Whether the recorded choice is a grant that counts where an opt-in is required."""
    status = consent.status
    if status is not ConsentStatus.GRANTED:
        return _REFUSALS[status]
    if consent.notice_version < purpose.min_notice_version:
        return _PREBUILT[Reason.NOTICE_OUTDATED]
    lifetime = purpose.consent_lifetime_days
    expires_at = None
    if lifetime is not None:
        expires_at = _expiry(consent.recorded_at, lifetime)
        if now >= expires_at:
            return _PREBUILT[Reason.EXPIRED]
    # Whether a child could consent alone is judged at the time they consented.
    if not consent.by_guardian and _younger_than(
        jurisdiction.parental_consent_age, facts.birth_date, consent.recorded_at
    ):
        return _PREBUILT[Reason.PARENTAL_CONSENT_REQUIRED]
    return Decision(allowed=True, reason=Reason.GRANTED, expires_at=expires_at)


def _younger_than(age: int | None, birth_date: date | None, at: datetime) -> bool:
    if age is None or birth_date is None:
        return False
    day = at.date()
    years = day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
    return years < age


def _expiry(recorded_at: datetime, lifetime_days: int) -> datetime:
    validity = _VALIDITY.get(lifetime_days)
    if validity is None:
        validity = _VALIDITY[lifetime_days] = timedelta(days=lifetime_days)
    try:
        return recorded_at + validity
    except OverflowError:
        # Only at the very end of the calendar: the grant outlives anything we can represent.
        return datetime.max.replace(tzinfo=recorded_at.tzinfo)
