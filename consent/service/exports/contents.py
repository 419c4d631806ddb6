"""Everything an export holds, read in one snapshot and decrypted.

The reads run in one read-only, repeatable-read transaction, so the JSON and the CSV files
PostgreSQL formats (`copy_history_csv`, `copy_receipts_csv`: no Python per event) show the same
rows. Consent events are pseudonymous and stored in the clear; the personal record, identifiers
and a request's note or corrections are decrypted here, under the subject's data key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec

from consent.service.exports.disclosures import processing_of
from consent.service.exports.schema import (
    SCHEMA_VERSION,
    Coverage,
    ExportDocument,
    IdentifierOut,
    PersonalRecordOut,
    ReceiptOut,
    ReceiptPurposeOut,
    RequestOut,
)
from consent.service.policy_versions import ActivePolicy
from consent.service.vault.personal_records import decrypt_record
from consent.store import consent_events as events_store
from consent.store import requests as requests_store
from consent.store import vault as vault_store
from consent.store.consent_events import ConsentEventRow
from consent.store.pool import Connection
from consent.store.requests import RequestRow, SubjectRequestRow
from crypto import DataKey, decrypt_field_text
from policies import Jurisdiction

__all__ = ["CCPA_EARLIEST", "ExportContents", "coverage_of", "gather"]

CCPA_EARLIEST = datetime(2022, 1, 1, tzinfo=UTC)
"""CCPA: on request, everything since 1 January 2022 (Cal. Code Regs. tit. 11, §7024(h))."""
_decode_corrections = msgspec.json.Decoder(dict[str, str]).decode


class ExportContents(msgspec.Struct, kw_only=True, frozen=True):
    document: ExportDocument
    events_csv: bytes
    receipts_csv: bytes


def _year_before(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def coverage_of(request: RequestRow, now: datetime) -> Coverage:
    """CCPA: the 12 months before the request by default, since 2022 on request; elsewhere everything."""
    if request.jurisdiction != Jurisdiction.CCPA:
        return Coverage(since=None, until=now, rule="everything")
    if request.full_history:
        return Coverage(since=CCPA_EARLIEST, until=now, rule="since_2022")
    return Coverage(since=_year_before(request.received_at), until=now, rule="last_12_months")


def receipts_of(events: list[ConsentEventRow]) -> list[ReceiptOut]:
    """The receipts of `events`: the choices recorded together, in the order they were recorded."""
    grouped: dict[UUID, list[ConsentEventRow]] = {}
    for event in events:
        if event.receipt_id is not None:
            grouped.setdefault(event.receipt_id, []).append(event)
    return [
        ReceiptOut(
            receipt_id=receipt_id,
            recorded_at=first.recorded_at,
            jurisdiction=first.jurisdiction,
            property=first.property,
            language=first.language,
            policy_version=first.policy_version,
            sources=sorted({event.source for event in group}),
            actions=sorted({event.action for event in group}),
            purposes=[
                ReceiptPurposeOut(purpose=e.purpose, status=e.status, notice_version=e.notice_version)
                for e in sorted(group, key=lambda e: e.purpose)
            ],
        )
        for receipt_id, group in grouped.items()
        for first in (group[0],)
    ]


def _request(key: DataKey, row: SubjectRequestRow) -> RequestOut:
    def text(blob: bytes | None, field: str) -> str | None:
        if blob is None:
            return None
        return decrypt_field_text(key, blob, subject_id=row.subject_id, table="requests", field=field).reveal()

    corrections = text(row.corrections_ciphertext, "corrections")
    return RequestOut(
        id=row.id,
        type=row.type,
        state=row.state,
        jurisdiction=row.jurisdiction,
        channel=row.channel,
        received_at=row.received_at,
        due_at=row.due_at,
        extended=row.extended,
        extension_reason=row.extension_reason,
        completed_at=row.completed_at,
        rejected_at=row.rejected_at,
        rejection_reason=row.rejection_reason,
        note=text(row.note_ciphertext, "note"),
        corrections=None if corrections is None else _decode_corrections(corrections),
    )


async def _personal_record(conn: Connection, key: DataKey, subject_id: UUID) -> PersonalRecordOut:
    fields = await vault_store.fetch_record_fields(conn, subject_id)
    record = decrypt_record(key, subject_id, fields)
    updated_at = max((field.updated_at for field in fields), default=None)
    return PersonalRecordOut(**msgspec.structs.asdict(record), updated_at=updated_at)


async def _identifiers(conn: Connection, key: DataKey, subject_id: UUID) -> list[IdentifierOut]:
    return [
        IdentifierOut(
            kind=kind,
            value=decrypt_field_text(
                key, blob, subject_id=subject_id, table="subject_identifiers", field=kind
            ).reveal(),
        )
        for kind, blob in await vault_store.fetch_identifiers_of(conn, subject_id)
    ]


async def gather(
    conn: Connection, key: DataKey, active: ActivePolicy, request: RequestRow, *, export_id: UUID, now: datetime
) -> ExportContents:
    """Read and decrypt the export of `request` in one snapshot (`conn` is not in a transaction)."""
    subject_id = request.subject_id
    coverage = coverage_of(request, now)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        record = await _personal_record(conn, key, subject_id)
        identifiers = await _identifiers(conn, key, subject_id)
        events = await events_store.fetch_history_since(conn, subject_id, coverage.since)
        events_csv = await events_store.copy_history_csv(conn, subject_id, coverage.since)
        receipts_csv = await events_store.copy_receipts_csv(conn, subject_id, coverage.since)
        requests = await requests_store.fetch_subject_requests(conn, subject_id, coverage.since)
    document = ExportDocument(
        schema_version=SCHEMA_VERSION,
        export_id=export_id,
        request_id=request.id,
        subject_id=subject_id,
        generated_at=now,
        jurisdiction=request.jurisdiction,
        coverage=coverage,
        personal_record=record,
        identifiers=identifiers,
        consent_events=events,
        receipts=receipts_of(events),
        requests=[_request(key, row) for row in requests],
        processing=processing_of(active.policy, active.version, Jurisdiction(request.jurisdiction), events),
    )
    return ExportContents(document=document, events_csv=events_csv, receipts_csv=receipts_csv)
