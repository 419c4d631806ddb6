"""The export document (`export.json`), version `SCHEMA_VERSION`: the types a reader decodes it with.

    document = msgspec.json.decode(zip_file.read("export.json"), type=ExportDocument)

A change that removes or renames a field, or changes its type, raises `SCHEMA_VERSION`; a new
optional field does not. docs/exports.md describes each field for people.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec

from consent.service.vault.personal_records import PersonalRecord
from consent.store.consent_events import ConsentEventRow

__all__ = [
    "SCHEMA_VERSION",
    "Complaints",
    "ConsentEventOut",
    "ControllerOut",
    "Coverage",
    "ExportDocument",
    "IdentifierOut",
    "PersonalRecordOut",
    "Processing",
    "PurposeOut",
    "ReceiptOut",
    "ReceiptPurposeOut",
    "RecipientOut",
    "RequestOut",
    "RetentionOut",
    "RightOut",
    "SourceOut",
]

SCHEMA_VERSION = 1


class _Out(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Every part of the document: a reader decoding with these types notices any field it does not know."""


ConsentEventOut = ConsentEventRow
"""One consent event exactly as recorded (the `consent_events` row): the choice, where and how it was
given, and its proof (never a raw IP address)."""


class Coverage(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The period the events and requests cover; `since` is None when everything is included."""

    since: datetime | None
    until: datetime
    rule: str
    """`everything`, `last_12_months` (CCPA's default) or `since_2022` (CCPA, on request)."""


class PersonalRecordOut(PersonalRecord, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The personal record, decrypted (the fields of `PersonalRecord`); fields never given are null."""

    updated_at: datetime | None = None


class IdentifierOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    kind: str
    """`email`, `phone`, `user_id` or `device_id`."""
    value: str


class ReceiptPurposeOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    purpose: str
    status: str
    notice_version: int


class ReceiptOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One receipt: the choices recorded together (its events share `receipt_id`)."""

    receipt_id: UUID
    recorded_at: datetime
    jurisdiction: str
    property: str
    language: str | None
    policy_version: int
    sources: list[str]
    actions: list[str]
    purposes: list[ReceiptPurposeOut]


class RequestOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One of the person's data subject requests (this one included)."""

    id: UUID
    type: str
    state: str
    jurisdiction: str
    channel: str
    received_at: datetime
    due_at: date
    extended: bool
    extension_reason: str | None
    completed_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None
    note: str | None
    corrections: dict[str, str] | None


class ControllerOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    contact: str
    dpo: str | None
    policy_url: str


class PurposeOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    id: str
    title: str
    description: str
    legal_basis: str
    data_categories: list[str]
    consent_lifetime_days: int | None
    sale_or_sharing: bool
    third_party_countries: list[str]
    """Countries outside the controller's where this purpose's data goes (GDPR Art. 15(2) safeguards apply)."""


class RecipientOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    country: str
    third_party: bool
    """True for an independent third party; false for a processor acting on the controller's behalf."""
    purposes: list[str]


class RetentionOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    data_category: str
    personal_data_days: int
    consent_proof_days: int


class SourceOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    source: str
    description: str
    properties: list[str]
    """The sites or apps where choices came from this source."""


class RightOut(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    right: str
    description: str
    how: str


class Complaints(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    authority: str | None
    """As the controller's policy names it; None when it names none."""
    text: str


class Processing(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What GDPR Art. 15(1) (and CCPA §1798.110) entitle the person to know, from the active policy."""

    policy_version: int
    controller: ControllerOut
    purposes: list[PurposeOut]
    data_categories: list[str]
    recipients: list[RecipientOut]
    retention: list[RetentionOut]
    sources: list[SourceOut]
    rights: list[RightOut]
    complaints: Complaints
    automated_decisions: str


class ExportDocument(_Out, kw_only=True, frozen=True, forbid_unknown_fields=True):
    schema_version: int
    export_id: UUID
    request_id: UUID
    subject_id: UUID
    generated_at: datetime
    jurisdiction: str
    coverage: Coverage
    personal_record: PersonalRecordOut
    identifiers: list[IdentifierOut]
    consent_events: list[ConsentEventOut]
    receipts: list[ReceiptOut]
    requests: list[RequestOut]
    processing: Processing
