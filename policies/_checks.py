"""The rules a policy must follow beyond the shape of each value.

Types and ranges are checked while decoding; what is checked here relates several values (a
purpose's versions to each other, a purpose to the retention table, a recipient to the
purposes) or encodes the law (a strictly necessary purpose cannot rest on consent). Checks read
the fields that decoded, so an item with one broken field still has its other rules checked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

from policies._codes import Jurisdiction, LegalBasis, PurposeCategory
from policies._decoding import Fields, ProblemList, key_path

__all__ = [
    "REQUIRED_LANGUAGES",
    "check_controller",
    "check_jurisdiction",
    "check_jurisdictions_declared",
    "check_personal_fields",
    "check_purpose",
    "check_recipient",
]

REQUIRED_LANGUAGES = ("en", "ja")
"""Every purpose carries a notice in these languages; `en` is also the fallback."""

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_EXEMPT_BASES = frozenset({LegalBasis.CONTRACT, LegalBasis.LEGAL_OBLIGATION})


def check_controller(controller: Fields, problems: ProblemList) -> None:
    """The privacy policy must be reachable over HTTPS."""
    url = controller.get("policy_url", str)
    if url is not None and not _is_https_url(url):
        problems.add("controller.policy_url", "must be an https:// URL")


def check_purpose(purpose: Fields, path: str, retention_ids: Collection[str], problems: ProblemList) -> None:
    """Check one purpose against the law and against the retention table."""
    texts = purpose.get("text", dict) or {}
    for language in REQUIRED_LANGUAGES if "text" in purpose else ():
        if language not in texts:
            problems.add(key_path(path, "text"), f"missing the notice in {language!r}")
    version, minimum = purpose.get("notice_version", int), purpose.get("min_notice_version", int)
    if version is not None and minimum is not None and minimum > version:
        problems.add(key_path(path, "min_notice_version"), f"is {minimum}, above the current notice_version {version}")
    basis = purpose.get("legal_basis", LegalBasis)
    if basis is LegalBasis.CONSENT and purpose.get("consent_lifetime_days", int) is None:
        problems.add(key_path(path, "consent_lifetime_days"), "is required when the legal basis is consent")
    for category in purpose.get("data_categories", tuple) or ():
        if category not in retention_ids:
            problems.add(key_path(path, "data_categories"), f"{category!r} has no entry in [retention]")
    category = purpose.get("category", PurposeCategory)
    if category is PurposeCategory.SALE_OR_SHARING and purpose.get("sale_or_sharing", bool) is not True:
        problems.add(key_path(path, "sale_or_sharing"), "must be true for a purpose of category sale_or_sharing")
    _check_exemption(purpose, path, problems)


def _check_exemption(purpose: Fields, path: str, problems: ProblemList) -> None:
    """An exempt purpose bypasses every choice, so it must not be one a choice should stop."""
    basis = purpose.get("legal_basis", LegalBasis)
    necessary = purpose.get("category", PurposeCategory) is PurposeCategory.NECESSARY
    if necessary and basis is LegalBasis.CONSENT:
        problems.add(
            key_path(path, "legal_basis"),
            "a strictly necessary purpose cannot rest on consent; use contract, legal_obligation "
            "or legitimate_interest, or change the category",
        )
    if not (necessary or basis in _EXEMPT_BASES):
        return
    for flag in ("sale_or_sharing", "direct_marketing"):
        if purpose.get(flag, bool):
            problems.add(
                key_path(path, flag),
                "cannot be true for a purpose that needs no choice (necessary, contract, legal_obligation)",
            )


def check_jurisdiction(code: Jurisdiction, rules: Fields, path: str, problems: ProblemList) -> None:
    """One jurisdiction's rules hang together."""
    regimes = rules.get("regimes", dict)
    if regimes is not None and PurposeCategory.NECESSARY in regimes:
        problems.add(key_path(key_path(path, "regimes"), "necessary"), "necessary purposes need no choice")
    minor_age, parental_age = rules.get("minor_opt_in_age", int), rules.get("parental_consent_age", int)
    if minor_age is not None and parental_age is not None and minor_age < parental_age:
        problems.add(key_path(path, "minor_opt_in_age"), f"is {minor_age}, below parental_consent_age {parental_age}")
    if code is Jurisdiction.APPI and rules.get("equivalent_countries", frozenset) is None:
        problems.add(
            key_path(path, "equivalent_countries"),
            "is required for appi: list the countries (including JP) where provision to a third "
            "party needs no cross-border consent",
        )


def check_jurisdictions_declared(declared: Collection[str], problems: ProblemList) -> None:
    """Every jurisdiction is declared: a subject from anywhere must meet explicit rules."""
    for code in Jurisdiction:
        if code.value not in declared:
            problems.add(key_path("jurisdictions", code.value), "missing; every jurisdiction must be declared")


def check_personal_fields(retention: Mapping[str, Fields], problems: ProblemList) -> None:
    """A personal-record field has one retention: one `[retention]` table names it, once."""
    owners: dict[str, str] = {}
    for category, fields in retention.items():
        for field in fields.get("personal_fields", tuple) or ():
            path = key_path(key_path("retention", category), "personal_fields")
            if field in owners:
                problems.add(path, f"{field!r} is already named in retention.{owners[field]}")
            owners[field] = category


def check_recipient(recipient: Fields, path: str, purposes: Mapping[str, Fields], problems: ProblemList) -> None:
    """A recipient serves declared purposes, over HTTPS, from a country their notices name."""
    url = recipient.get("webhook_url", str)
    if url is not None and not _is_webhook_url(url):
        problems.add(key_path(path, "webhook_url"), "must be an https:// URL (http:// only for localhost)")
    third_party, country = recipient.get("third_party", bool), recipient.get("country", str)
    for purpose_id in recipient.get("purposes", tuple) or ():
        purpose = purposes.get(purpose_id)
        if purpose is None:
            problems.add(key_path(path, "purposes"), f"{purpose_id!r} is not a declared purpose")
            continue
        countries = purpose.get("third_party_countries", frozenset) or frozenset()
        if third_party and country is not None and country not in countries:
            problems.add(
                key_path(path, "country"),
                f"{country!r} is not in purposes.{purpose_id}.third_party_countries; the notice "
                "must name every country a third party receives the data in",
            )


def _is_https_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


def _is_webhook_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "http":
        return parts.hostname in _LOCAL_HOSTS
    return _is_https_url(url)
