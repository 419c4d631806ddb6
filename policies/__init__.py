"""Policies as code: the purpose catalogue, jurisdictions, the decision engine and legal deadlines.

A pure library: no I/O, no clock (`now` is always an argument), nothing of HTTP or SQL. The
service reads a policy file, passes its text to `parse_policy`, and calls the rest with the
resulting `Policy` and the rows it stores (`ConsentState`, `SubjectFacts`).

    policy = parse_policy(text, source="shop.toml")
    rules = policy.jurisdictions[resolve_jurisdiction(country, region)]
    decision = decide(policy.purposes["analytics"], state, rules, Signals(gpc=True), now)
"""

from policies._codes import (
    Approval,
    ConsentStatus,
    Jurisdiction,
    LegalBasis,
    PeriodUnit,
    PersonalField,
    PurposeCategory,
    Reason,
    Regime,
    RequestType,
)
from policies._deadlines import BusinessCalendar, DueDates, add_months, add_period, due_dates
from policies._decisions import ALLOWING_REASONS, Decision, decide, decision_holds_until, regime_for
from policies._diff import NoticeChange, PolicyDiff, PurposeChange, ReconsentRequired, diff_policies
from policies._digest import policy_digest
from policies._errors import PolicyError, PolicyInvalid, Problem
from policies._geo import GDPR_COUNTRIES, US_STATE_REGIONS, resolve_jurisdiction
from policies._loader import parse_policy
from policies._model import (
    Controller,
    Deadline,
    Deadlines,
    JurisdictionRules,
    NoticeText,
    Period,
    Policy,
    Purpose,
    Recipient,
    RequestRule,
    RequestSettings,
    Retention,
)
from policies._notices import FALLBACK_LANGUAGE, Notice, gpc_honoured, notices_for
from policies._ropa import (
    RopaDocument,
    RopaRecipient,
    RopaRetention,
    RopaRow,
    render_ropa_csv,
    render_ropa_json,
    ropa_document,
    ropa_rows,
)
from policies._state import NO_FACTS, NO_SIGNALS, ConsentState, Signals, SubjectFacts, SubjectState
from policies._statutory import STATUTORY_DEADLINES
from policies._tcf import (
    MAX_TC_STRING_LENGTH,
    PublisherRestriction,
    PublisherTC,
    RestrictionType,
    TCString,
    TCStringInvalid,
    decode_tc_string,
)

__all__ = [
    "ALLOWING_REASONS",
    "FALLBACK_LANGUAGE",
    "GDPR_COUNTRIES",
    "MAX_TC_STRING_LENGTH",
    "NO_FACTS",
    "NO_SIGNALS",
    "STATUTORY_DEADLINES",
    "US_STATE_REGIONS",
    "Approval",
    "BusinessCalendar",
    "ConsentState",
    "ConsentStatus",
    "Controller",
    "Deadline",
    "Deadlines",
    "Decision",
    "DueDates",
    "Jurisdiction",
    "JurisdictionRules",
    "LegalBasis",
    "Notice",
    "NoticeChange",
    "NoticeText",
    "Period",
    "PeriodUnit",
    "PersonalField",
    "Policy",
    "PolicyDiff",
    "PolicyError",
    "PolicyInvalid",
    "Problem",
    "PublisherRestriction",
    "PublisherTC",
    "Purpose",
    "PurposeCategory",
    "PurposeChange",
    "Reason",
    "Recipient",
    "ReconsentRequired",
    "Regime",
    "RequestRule",
    "RequestSettings",
    "RequestType",
    "RestrictionType",
    "Retention",
    "RopaDocument",
    "RopaRecipient",
    "RopaRetention",
    "RopaRow",
    "Signals",
    "SubjectFacts",
    "SubjectState",
    "TCString",
    "TCStringInvalid",
    "add_months",
    "add_period",
    "decide",
    "decision_holds_until",
    "decode_tc_string",
    "diff_policies",
    "due_dates",
    "gpc_honoured",
    "notices_for",
    "parse_policy",
    "policy_digest",
    "regime_for",
    "render_ropa_csv",
    "render_ropa_json",
    "resolve_jurisdiction",
    "ropa_document",
    "ropa_rows",
]
