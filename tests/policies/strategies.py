"""Hypothesis strategies for the decision engine's inputs.

They draw what a valid policy file can declare (the loader's rules hold: an exempt purpose is
never sale-or-sharing, a consent purpose has a lifetime, `min_notice_version <= notice_version`)
and any state the service can store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from policies import (
    STATUTORY_DEADLINES,
    ConsentState,
    ConsentStatus,
    Jurisdiction,
    JurisdictionRules,
    LegalBasis,
    NoticeText,
    Purpose,
    PurposeCategory,
    Regime,
    Signals,
    SubjectFacts,
    SubjectState,
)

PURPOSE_IDS = ("analytics", "marketing_email", "partner_sharing")
COUNTRIES = ("JP", "US", "DE", "GB", "CN")
ZONES = (UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-8)))

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.sampled_from(ZONES))
"""Aware times in the range the service will meet."""

any_moments = st.datetimes(timezones=st.sampled_from(ZONES))
"""Aware times across the whole calendar, for totality."""

_ANY_LEGAL_BASIS = st.sampled_from(LegalBasis)
_ANY_STATUS = st.sampled_from(ConsentStatus)
_EITHER = st.booleans()
_TEXTS = {"en": NoticeText(title="Title", text="Text"), "ja": NoticeText(title="題", text="本文")}


@st.composite
def purposes(draw: st.DrawFn, *, legal_basis: st.SearchStrategy[LegalBasis] = _ANY_LEGAL_BASIS) -> Purpose:
    basis = draw(legal_basis)
    category = draw(st.sampled_from(PurposeCategory))
    if basis is LegalBasis.CONSENT and category is PurposeCategory.NECESSARY:
        category = PurposeCategory.ANALYTICS
    exempt = category is PurposeCategory.NECESSARY or basis in {LegalBasis.CONTRACT, LegalBasis.LEGAL_OBLIGATION}
    sale_or_sharing = not exempt and (category is PurposeCategory.SALE_OR_SHARING or draw(st.booleans()))
    notice_version = draw(st.integers(1, 5))
    lifetime = st.integers(1, 3650)
    return Purpose(
        id=draw(st.sampled_from(PURPOSE_IDS)),
        legal_basis=basis,
        category=category,
        data_categories=("usage",),
        subject_categories=("visitors",),
        notice_version=notice_version,
        min_notice_version=draw(st.integers(1, notice_version)),
        text=_TEXTS,
        consent_lifetime_days=draw(lifetime if basis is LegalBasis.CONSENT else st.none() | lifetime),
        sale_or_sharing=sale_or_sharing,
        direct_marketing=not exempt and draw(st.booleans()),
        third_party_countries=draw(st.frozensets(st.sampled_from(COUNTRIES), max_size=2)),
    )


@st.composite
def jurisdictions(draw: st.DrawFn, *, gpc_opt_out: st.SearchStrategy[bool] = _EITHER) -> JurisdictionRules:
    code = draw(st.sampled_from(Jurisdiction))
    parental_age = draw(st.integers(0, 21))
    choosable = [category for category in PurposeCategory if category is not PurposeCategory.NECESSARY]
    return JurisdictionRules(
        code=code,
        default_regime=draw(st.sampled_from(Regime)),
        regimes=draw(st.dictionaries(st.sampled_from(choosable), st.sampled_from(Regime))),
        gpc_opt_out=draw(gpc_opt_out),
        parental_consent_age=parental_age,
        minor_opt_in_age=draw(st.none() | st.integers(parental_age, 21)),
        equivalent_countries=draw(st.none() | st.frozensets(st.sampled_from(COUNTRIES))),
        deadlines=STATUTORY_DEADLINES[code],
    )


def consents(
    *,
    status: st.SearchStrategy[ConsentStatus] = _ANY_STATUS,
    at: st.SearchStrategy[datetime] = moments,
) -> st.SearchStrategy[ConsentState]:
    return st.builds(
        ConsentState,
        status=status,
        notice_version=st.integers(1, 6),
        recorded_at=at,
        by_guardian=st.booleans(),
    )


def facts(*, at: st.SearchStrategy[datetime] = moments) -> st.SearchStrategy[SubjectFacts]:
    return st.builds(
        SubjectFacts,
        gpc_opt_out_at=st.none() | at,
        direct_marketing_objected_at=st.none() | at,
        objected_purposes=st.frozensets(st.sampled_from(PURPOSE_IDS), max_size=1),
        birth_date=st.none() | st.dates(min_value=date(1940, 1, 1), max_value=date(2035, 1, 1)),
    )


def states(
    *, consent: st.SearchStrategy[ConsentState | None] | None = None, at: st.SearchStrategy[datetime] = moments
) -> st.SearchStrategy[SubjectState]:
    consent = consent if consent is not None else st.none() | consents(at=at)
    return st.builds(SubjectState, consent=consent, facts=facts(at=at))


signals = st.builds(Signals, gpc=st.booleans())
