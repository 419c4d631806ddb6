"""What GDPR Art. 15(1) entitles the person to know, from the active policy (pure).

Purposes and their legal bases, the categories of data, recipients (and where they are),
retention, the sources the person's choices came from, their rights under their jurisdiction,
how to complain, and whether decisions about them are automated.
"""

from __future__ import annotations

from collections.abc import Iterable

from consent.service.exports.schema import (
    Complaints,
    ControllerOut,
    Processing,
    PurposeOut,
    RecipientOut,
    RetentionOut,
    RightOut,
    SourceOut,
)
from consent.store.consent_events import ConsentEventRow
from policies import Jurisdiction, Policy, Purpose

__all__ = ["processing_of"]

_SOURCES = {
    "banner": "Your choices on a consent banner or privacy settings page.",
    "api": "Your choices passed to us by our own systems (for example, your account settings).",
    "import": "Choices you made earlier, imported from a previous system.",
    "gpc": "The Global Privacy Control signal your browser sent, which we honour as an opt-out.",
    "request": "A request you made (an opt-out, objection or restriction).",
    "system": "Our own record keeping, such as a consent that expired after its lifetime.",
}

_GDPR_RIGHTS = (
    ("access", "Obtain a copy of your personal data and this information (Art. 15).", "access"),
    ("rectification", "Have inaccurate data corrected (Art. 16).", "rectification"),
    ("erasure", "Have your data erased (Art. 17).", "erasure"),
    ("restriction", "Have the processing restricted (Art. 18).", "restrict"),
    ("portability", "Receive your data in a machine-readable format (Art. 20).", "portability"),
    ("objection", "Object to processing, and to direct marketing at any time (Art. 21).", "object"),
    ("withdraw_consent", "Withdraw a consent at any time, as easily as it was given (Art. 7(3)).", "banner"),
)
_US_RIGHTS = (
    ("know", "Know what personal information we hold about you and how we use it.", "access"),
    ("delete", "Have your personal information deleted.", "erasure"),
    ("correct", "Have inaccurate personal information corrected.", "rectification"),
    ("portability", "Receive your personal information in a portable format.", "portability"),
    ("opt_out", "Opt out of the sale or sharing of your personal information, and limit the use of "
     "sensitive personal information.", "opt_out"),
    ("non_discrimination", "Not be treated differently for exercising these rights.", "contact"),
)  # fmt: skip
_APPI_RIGHTS = (
    ("disclosure", "Have your retained personal data disclosed to you (Art. 33).", "access"),
    ("correction", "Have your retained personal data corrected, added to or deleted (Art. 34).", "rectification"),
    ("cessation", "Have the use or third-party provision of your data stopped (Art. 35).", "erasure"),
)
_LGPD_RIGHTS = (
    ("access", "Confirm the processing and access your data (Art. 18 I-II).", "access"),
    ("correction", "Have incomplete, inaccurate or outdated data corrected (Art. 18 III).", "rectification"),
    ("deletion", "Have unnecessary data, or data processed with your consent, deleted (Art. 18 IV, VI).", "erasure"),
    ("portability", "Have your data transferred to another provider (Art. 18 V).", "portability"),
    ("sharing", "Know with whom your data is shared (Art. 18 VII).", "access"),
    ("withdraw_consent", "Withdraw your consent (Art. 18 IX).", "banner"),
)
_RIGHTS = {
    Jurisdiction.GDPR: _GDPR_RIGHTS,
    Jurisdiction.CCPA: _US_RIGHTS,
    Jurisdiction.US_STATE: _US_RIGHTS,
    Jurisdiction.APPI: _APPI_RIGHTS,
    Jurisdiction.LGPD: _LGPD_RIGHTS,
}
_COMPLAIN = (
    "You may lodge a complaint with a supervisory authority, in particular where you live, where you work "
    "or where you think your rights were infringed."
)
_AUTOMATED = "No decision producing legal or similarly significant effects is made about you by automated means alone."


def _how(kind: str, contact: str) -> str:
    if kind == "banner":
        return "Change your choices in the privacy settings where you gave them, or ask us: " + contact
    if kind == "contact":
        return "Ask us: " + contact
    return f"Ask us for a `{kind}` request: {contact}"


def _purpose(purpose: Purpose) -> PurposeOut:
    text = purpose.text.get("en") or next(iter(purpose.text.values()))
    return PurposeOut(
        id=purpose.id,
        title=text.title,
        description=text.text,
        legal_basis=purpose.legal_basis.value,
        data_categories=list(purpose.data_categories),
        consent_lifetime_days=purpose.consent_lifetime_days,
        sale_or_sharing=purpose.sale_or_sharing,
        third_party_countries=sorted(purpose.third_party_countries),
    )


def _sources(events: Iterable[ConsentEventRow]) -> list[SourceOut]:
    seen: dict[str, set[str]] = {}
    for event in events:
        seen.setdefault(event.source, set()).add(event.property)
    return [
        SourceOut(source=source, description=_SOURCES.get(source, source), properties=sorted(properties))
        for source, properties in sorted(seen.items())
    ]


def processing_of(
    policy: Policy, version: int, jurisdiction: Jurisdiction, events: Iterable[ConsentEventRow]
) -> Processing:
    """The Art. 15(1) information for a person under `jurisdiction` whose choices are `events`."""
    controller = policy.controller
    purposes = sorted(policy.purposes.values(), key=lambda p: p.id)
    return Processing(
        policy_version=version,
        controller=ControllerOut(
            name=controller.name, contact=controller.contact, dpo=controller.dpo, policy_url=controller.policy_url
        ),
        purposes=[_purpose(purpose) for purpose in purposes],
        data_categories=sorted({category for purpose in purposes for category in purpose.data_categories}),
        recipients=[
            RecipientOut(id=r.id, name=r.name, country=r.country, third_party=r.third_party, purposes=list(r.purposes))
            for r in sorted(policy.recipients.values(), key=lambda r: r.id)
        ],
        retention=[
            RetentionOut(
                data_category=category,
                personal_data_days=rule.personal_data_days,
                consent_proof_days=rule.consent_proof_days,
            )
            for category, rule in sorted(policy.retention.items())
        ],
        sources=_sources(events),
        rights=[
            RightOut(right=right, description=description, how=_how(kind, controller.contact))
            for right, description, kind in _RIGHTS.get(jurisdiction, _GDPR_RIGHTS)
        ],
        complaints=Complaints(authority=controller.complaint_authority, text=_COMPLAIN),
        automated_decisions=_AUTOMATED,
    )
