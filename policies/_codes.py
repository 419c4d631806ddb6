"""The closed vocabularies of the policy library.

Every value here appears on the wire, in policy files and in database rows, so the
string values are part of the contract: add members, never rename them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Approval",
    "ConsentStatus",
    "Jurisdiction",
    "LegalBasis",
    "PeriodUnit",
    "PersonalField",
    "PurposeCategory",
    "Reason",
    "Regime",
    "RequestType",
]


class Jurisdiction(StrEnum):
    """A rule set, chosen from where the subject is (see `resolve_jurisdiction`)."""

    GDPR = "gdpr"
    """EU, EEA and the United Kingdom."""
    CCPA = "ccpa"
    """California (CCPA as amended by the CPRA)."""
    US_STATE = "us_state"
    """US states with a comprehensive privacy law modelled on Virginia's: CO, VA, CT."""
    APPI = "appi"
    """Japan (Act on the Protection of Personal Information)."""
    LGPD = "lgpd"
    """Brazil (Lei Geral de Proteção de Dados)."""
    DEFAULT = "default"
    """Everywhere else: the operator's baseline, opt-in unless the file says otherwise."""


class LegalBasis(StrEnum):
    """Why processing is lawful (GDPR Art. 6(1)); decides whether a choice is needed at all."""

    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"


class PurposeCategory(StrEnum):
    """What kind of processing a purpose is; jurisdictions set opt-in or opt-out per category."""

    NECESSARY = "necessary"
    FUNCTIONAL = "functional"
    ANALYTICS = "analytics"
    PERSONALISATION = "personalisation"
    MARKETING = "marketing"
    ADVERTISING = "advertising"
    SALE_OR_SHARING = "sale_or_sharing"
    THIRD_PARTY_PROVISION = "third_party_provision"


class Regime(StrEnum):
    """Whether processing waits for a yes (opt-in) or runs until a no (opt-out)."""

    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class ConsentStatus(StrEnum):
    """The status of the latest consent event for one subject and one purpose."""

    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"


class Reason(StrEnum):
    """Why the decision engine allowed or denied a purpose; returned in every check answer."""

    # Allowed.
    NECESSARY = "necessary"
    """The purpose is strictly necessary: no choice applies."""
    CONTRACT = "contract"
    """Processing is needed to perform a contract with the subject."""
    LEGAL_OBLIGATION = "legal_obligation"
    """Processing is required by law."""
    GRANTED = "granted"
    """A valid, unexpired grant under a current notice."""
    LEGITIMATE_INTEREST = "legitimate_interest"
    """Legitimate interest and the subject has not objected."""
    NOT_OPTED_OUT = "not_opted_out"
    """An opt-out regime and the subject has not opted out."""

    # Denied.
    NOT_ASKED = "not_asked"
    """Opt-in applies and no choice has been recorded."""
    DENIED = "denied"
    """The subject said no (or opted out)."""
    WITHDRAWN = "withdrawn"
    """The subject withdrew an earlier grant."""
    EXPIRED = "expired"
    """The grant is older than the purpose's consent lifetime."""
    NOTICE_OUTDATED = "notice_outdated"
    """The grant was given under a notice older than `min_notice_version`."""
    GPC_OPT_OUT = "gpc_opt_out"
    """Global Privacy Control, sent now or recorded earlier, opts out of sale or sharing."""
    OBJECTED = "objected"
    """The subject objected to this purpose, or to direct marketing as a whole."""
    MINOR_OPT_IN_REQUIRED = "minor_opt_in_required"
    """The subject is below the jurisdiction's opt-in age for sale or sharing and has not opted in."""
    PARENTAL_CONSENT_REQUIRED = "parental_consent_required"
    """The subject is below the parental-consent age and the grant was not given by a guardian."""
    CROSS_BORDER_CONSENT_REQUIRED = "cross_border_consent_required"
    """Provision to a third party in a country without equivalent protection needs consent (APPI Art. 28)."""


class RequestType(StrEnum):
    """The kinds of data subject request (DSR)."""

    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    OPT_OUT = "opt_out"
    """Opt-out of sale or sharing (CCPA), which also covers "limit the use of sensitive data"."""
    RESTRICT = "restrict"
    OBJECT = "object"
    """Objection to direct marketing (GDPR Art. 21(2)) or to named purposes (Art. 21(1))."""


class PersonalField(StrEnum):
    """A field of a subject's personal record, as a retention table names it."""

    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    USER_ID = "user_id"
    BIRTH_DATE = "birth_date"
    ATTRIBUTES = "attributes"
    """The custom attributes, kept as one document."""


class Approval(StrEnum):
    """Whether a verified request runs at once or waits for a person to approve it."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class PeriodUnit(StrEnum):
    """How a legal period is counted."""

    DAYS = "days"
    """Calendar days."""
    BUSINESS_DAYS = "business_days"
    """Days that are neither weekend nor holiday in the business calendar."""
    MONTHS = "months"
    """Calendar months, clamped to the month's last day (31 January + 1 month = 28/29 February)."""
