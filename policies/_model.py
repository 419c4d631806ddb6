"""The policy as frozen values: what a validated policy file becomes.

Every Struct forbids unknown fields because each is decoded from an operator's file, where a
misspelt key must be an error rather than a silently ignored rule. Mappings are plain dicts
for cheap lookups on the check path; treat them as read-only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

from policies._codes import (
    Approval,
    Jurisdiction,
    LegalBasis,
    PeriodUnit,
    PersonalField,
    PurposeCategory,
    Regime,
    RequestType,
)

__all__ = [
    "Controller",
    "Deadline",
    "Deadlines",
    "JurisdictionRules",
    "NoticeText",
    "Period",
    "Policy",
    "Purpose",
    "Recipient",
    "RequestRule",
    "RequestSettings",
    "Retention",
]

Identifier = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""Purpose, recipient and data-category ids: lower_snake_case, stable, used in rows and URLs."""
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case, as geo headers send it."""
LanguageTag = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
"""A BCP 47 tag such as `en`, `ja` or `pt-BR`."""
EnvVarName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Age = Annotated[int, msgspec.Meta(ge=0, le=21)]
Days = Annotated[int, msgspec.Meta(ge=1, le=36500)]
# Ten years: no consent should outlive that without being asked again, and the bound keeps
# every expiry computation far from datetime's range.
LifetimeDays = Annotated[int, msgspec.Meta(ge=1, le=3650)]
NoticeVersion = Annotated[int, msgspec.Meta(ge=1)]
# A first-party cookie name (RFC 6265 token characters a site actually uses), optionally ending in `*`
# to match every cookie with that prefix, as analytics tools name theirs (`_ga_*`).
CookieName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.\-]{1,128}\*?$")]
# IAB TCF v2.2 defines purposes 1 to 11.
TcfPurposeId = Annotated[int, msgspec.Meta(ge=1, le=11)]


# `omit_defaults`: a policy that leaves `complaint_authority` out keeps the digest it had before the field existed.
class Controller(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Who is responsible for the processing (GDPR Art. 30(1)(a)) and where the policy lives."""

    name: Text
    contact: Text
    policy_url: Text
    security_measures: Annotated[tuple[Text, ...], msgspec.Meta(min_length=1)]
    """A general description of technical and organisational measures (Art. 30(1)(g))."""
    dpo: Text | None = None
    """Contact of the data protection officer, where one is designated."""
    complaint_authority: Text | None = None
    """Where a person may lodge a complaint: the supervisory authority, with its address or web page
    (GDPR Art. 13(2)(d), 15(1)(f)); shown in access exports."""


class NoticeText(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What a banner shows for one purpose in one language."""

    title: Text
    text: Text


class Purpose(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A reason to process personal data, with everything the decision engine needs about it."""

    id: Identifier
    legal_basis: LegalBasis
    category: PurposeCategory
    data_categories: Annotated[tuple[Identifier, ...], msgspec.Meta(min_length=1)]
    subject_categories: Annotated[tuple[Text, ...], msgspec.Meta(min_length=1)]
    """Whose data this is (`customers`, `visitors` …), for the record of processing."""
    notice_version: NoticeVersion
    min_notice_version: NoticeVersion
    """Grants given under an older notice no longer count: raising it forces re-consent."""
    text: dict[LanguageTag, NoticeText]
    consent_lifetime_days: LifetimeDays | None = None
    """How long a grant lasts; required for consent purposes, `None` elsewhere means no expiry."""
    sale_or_sharing: bool = False
    """Sale, sharing or targeted advertising: Global Privacy Control opts it out."""
    direct_marketing: bool = False
    """An objection to direct marketing suppresses it for good (GDPR Art. 21(3))."""
    tcf_purposes: tuple[TcfPurposeId, ...] = ()
    third_party_countries: frozenset[CountryCode] = frozenset()
    """Where the third parties receiving this purpose's data are (APPI Art. 28, GDPR Art. 30(1)(e))."""
    cookies: tuple[CookieName, ...] = ()
    """First-party cookies the purpose sets: the banner deletes them when the purpose is refused."""

    @property
    def exempt(self) -> bool:
        """True when no choice applies: strictly necessary, a contract, or a legal obligation."""
        return self.category is PurposeCategory.NECESSARY or self.legal_basis in _EXEMPT_BASES


_EXEMPT_BASES = frozenset({LegalBasis.CONTRACT, LegalBasis.LEGAL_OBLIGATION})


class Period(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A legal period: a count of days, business days or calendar months."""

    count: Annotated[int, msgspec.Meta(ge=1, le=366)]
    unit: PeriodUnit


class Deadline(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The periods that apply to one kind of request, counted from its receipt."""

    respond: Period
    acknowledge: Period | None = None
    """`None` where the law sets no separate acknowledgement."""
    extension: Period | None = None
    """Added to the response deadline when an extension is taken; `None` where none is allowed."""


class Deadlines(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A jurisdiction's request deadlines: a default and optional per-request-type overrides."""

    default: Deadline
    access: Deadline | None = None
    portability: Deadline | None = None
    erasure: Deadline | None = None
    rectification: Deadline | None = None
    opt_out: Deadline | None = None
    restrict: Deadline | None = None
    object: Deadline | None = None

    def for_request(self, request_type: RequestType) -> Deadline:
        """The deadline for `request_type`: its override if declared, else the default."""
        override: Deadline | None = getattr(self, request_type.value)
        return self.default if override is None else override


class JurisdictionRules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How one jurisdiction treats purposes, signals, minors and requests."""

    code: Jurisdiction
    default_regime: Regime
    """The regime of consent purposes whose category is not listed in `regimes`."""
    gpc_opt_out: bool
    """Whether Global Privacy Control counts as an opt-out of sale or sharing here."""
    parental_consent_age: Age
    """Below this age a grant counts only if a guardian gave it (GDPR Art. 8, COPPA)."""
    deadlines: Deadlines
    regimes: dict[PurposeCategory, Regime] = {}
    minor_opt_in_age: Age | None = None
    """Opt-out regimes: below this age sale or sharing needs an opt-in (CCPA §1798.120(c))."""
    equivalent_countries: frozenset[CountryCode] | None = None
    """Countries a third party may be in without separate cross-border consent (APPI Art. 28),
    including the home country; `None` where the jurisdiction has no such rule."""
    holidays: frozenset[date] = frozenset()
    """Non-business days, besides weekends, for deadlines counted in business days."""


# `omit_defaults`: a policy that leaves `personal_fields` or `legal_obligation` out keeps the digest it had
# before they existed.
class Retention(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """How long one data category is kept, and whether the law obliges keeping it."""

    personal_data_days: Days
    consent_proof_days: Days
    """Consent events are proof; they outlive the data so a grant can still be shown later."""
    personal_fields: tuple[PersonalField, ...] = ()
    """The personal-record fields of this category: housekeeping deletes each once it has gone
    `personal_data_days` without being written. A field in no category is kept until erasure."""
    legal_obligation: Text | None = None
    """The law that obliges keeping this category (a tax or commercial code): an erasure keeps its
    personal fields, tells recipients to keep the category, and records this as the reason."""


# `omit_defaults`: a policy that leaves `ack` out keeps the digest it had before the field existed.
class Recipient(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A downstream system that receives consent changes and erasure orders."""

    id: Identifier
    name: Text
    webhook_url: Text
    secret_env: EnvVarName
    """The environment variable holding the signing secret: secrets never live in the file."""
    purposes: Annotated[tuple[Identifier, ...], msgspec.Meta(min_length=1)]
    country: CountryCode
    third_party: bool
    """True for an independent third party; False for a processor acting on our instructions."""
    ack: Literal["explicit", "http_2xx"] = "explicit"
    """How an order (erasure, rectification, opt-out, objection) is acknowledged: by the ack call
    once the recipient has acted (`explicit`), or by its 2xx answer to the webhook (`http_2xx`).
    A consent change is always settled by a 2xx answer: there is nothing to confirm."""


class RequestRule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How the service handles one type of data subject request."""

    approval: Approval = Approval.AUTOMATIC
    """`manual`: a verified request waits for a person to approve it before it runs."""


_AUTOMATIC = RequestRule()


class RequestSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The `[requests]` section: who delivers verification codes, and per-type handling."""

    verification_recipient: Identifier | None = None
    """The recipient that delivers one-time verification codes to people (a declared recipient)."""
    access: RequestRule | None = None
    portability: RequestRule | None = None
    erasure: RequestRule | None = None
    rectification: RequestRule | None = None
    opt_out: RequestRule | None = None
    restrict: RequestRule | None = None
    object: RequestRule | None = None

    def rule_for(self, request_type: RequestType) -> RequestRule:
        """The handling of `request_type`: its table if declared, else automatic approval."""
        rule: RequestRule | None = getattr(self, request_type.value)
        return _AUTOMATIC if rule is None else rule


class Policy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A validated policy: the catalogue of purposes and the rules around them."""

    controller: Controller
    purposes: dict[Identifier, Purpose]
    jurisdictions: dict[Jurisdiction, JurisdictionRules]
    retention: dict[Identifier, Retention]
    recipients: dict[Identifier, Recipient] = {}
    requests: RequestSettings = RequestSettings()
