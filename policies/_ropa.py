"""The record of processing activities (GDPR Art. 30), generated from the policy.

One record per purpose, so the compliance team never keeps a second copy by hand: the record
changes exactly when the policy does.
"""

from __future__ import annotations

import csv
import io

import msgspec

from policies._codes import LegalBasis, PurposeCategory
from policies._model import Controller, Policy, Purpose

__all__ = [
    "RopaDocument",
    "RopaRecipient",
    "RopaRetention",
    "RopaRow",
    "render_ropa_csv",
    "render_ropa_json",
    "ropa_document",
    "ropa_rows",
]

_LIST_SEPARATOR = "; "


class RopaRecipient(msgspec.Struct, kw_only=True, frozen=True):
    """Who receives the data of a processing activity (Art. 30(1)(d))."""

    name: str
    role: str
    """`processor` (acts on our instructions) or `third_party`."""
    country: str


class RopaRetention(msgspec.Struct, kw_only=True, frozen=True):
    """When one category of data is erased (Art. 30(1)(f))."""

    data_category: str
    personal_data_days: int
    consent_proof_days: int


class RopaRow(msgspec.Struct, kw_only=True, frozen=True):
    """One processing activity: one purpose of the policy."""

    purpose_id: str
    purpose: str
    description: str
    legal_basis: LegalBasis
    category: PurposeCategory
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    recipients: tuple[RopaRecipient, ...]
    recipient_countries: tuple[str, ...]
    """Every country the data goes to (Art. 30(1)(e)), sorted."""
    retention: tuple[RopaRetention, ...]
    security_measures: tuple[str, ...]


class RopaDocument(msgspec.Struct, kw_only=True, frozen=True):
    """The whole record: who the controller is, then one row per processing activity."""

    controller: Controller
    records: tuple[RopaRow, ...]


def ropa_rows(policy: Policy) -> list[RopaRow]:
    """One row per purpose, in the order the policy declares them, texts in English."""
    return [_row(policy, purpose) for purpose in policy.purposes.values()]


def ropa_document(policy: Policy) -> RopaDocument:
    """The record as one value; `msgspec.to_builtins` turns it into JSON-able builtins."""
    return RopaDocument(controller=policy.controller, records=tuple(ropa_rows(policy)))


def render_ropa_json(policy: Policy) -> bytes:
    """The record as indented UTF-8 JSON."""
    return msgspec.json.format(msgspec.json.encode(ropa_document(policy)), indent=2)


def render_ropa_csv(policy: Policy) -> str:
    """The record as CSV: a header and one line per purpose; lists are joined with `; `."""
    controller = policy.controller
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for row in ropa_rows(policy):
        writer.writerow(
            [
                controller.name,
                controller.contact,
                controller.dpo or "",
                row.purpose_id,
                row.purpose,
                row.description,
                row.legal_basis.value,
                row.category.value,
                _LIST_SEPARATOR.join(row.data_categories),
                _LIST_SEPARATOR.join(row.data_subjects),
                _LIST_SEPARATOR.join(f"{r.name} ({r.role}, {r.country})" for r in row.recipients),
                _LIST_SEPARATOR.join(row.recipient_countries),
                _LIST_SEPARATOR.join(
                    f"{r.data_category}: data {r.personal_data_days} days, consent proof {r.consent_proof_days} days"
                    for r in row.retention
                ),
                _LIST_SEPARATOR.join(row.security_measures),
            ]
        )
    return buffer.getvalue()


_CSV_HEADER = (
    "controller",
    "controller_contact",
    "dpo",
    "purpose_id",
    "purpose",
    "description",
    "legal_basis",
    "category",
    "data_categories",
    "data_subjects",
    "recipients",
    "recipient_countries",
    "retention",
    "security_measures",
)


def _row(policy: Policy, purpose: Purpose) -> RopaRow:
    english = purpose.text["en"]
    recipients = tuple(
        RopaRecipient(
            name=recipient.name,
            role="third_party" if recipient.third_party else "processor",
            country=recipient.country,
        )
        for recipient in policy.recipients.values()
        if purpose.id in recipient.purposes
    )
    countries = {recipient.country for recipient in recipients} | purpose.third_party_countries
    return RopaRow(
        purpose_id=purpose.id,
        purpose=english.title,
        description=english.text,
        legal_basis=purpose.legal_basis,
        category=purpose.category,
        data_categories=purpose.data_categories,
        data_subjects=purpose.subject_categories,
        recipients=recipients,
        recipient_countries=tuple(sorted(countries)),
        retention=tuple(
            RopaRetention(
                data_category=category,
                personal_data_days=policy.retention[category].personal_data_days,
                consent_proof_days=policy.retention[category].consent_proof_days,
            )
            for category in purpose.data_categories
        ),
        security_measures=policy.controller.security_measures,
    )
