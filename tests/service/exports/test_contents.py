"""What an export holds: the documented schema, matching what was recorded, in JSON and CSV alike."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

import msgspec

from consent.runtime import Runtime
from consent.service.exports import SCHEMA_VERSION, Download, ExportOutcome
from consent.service.exports.archive import MANIFEST, Manifest
from consent.service.exports.contents import CCPA_EARLIEST
from consent.store.consent_events import EVENT_CSV_COLUMNS, RECEIPT_CSV_COLUMNS, fetch_history
from crypto import verify_jws
from policies import Jurisdiction, RequestType
from tests.service.exports.conftest import (
    EMAIL,
    RECORD,
    Subject,
    document_of,
    file_request,
    make_subject,
    record_choices,
    unzip,
)


async def exported(runtime: Runtime, request_id: object) -> Download:
    url = await runtime.exports.export_url(request_id)  # type: ignore[arg-type]
    assert url is not None
    assert url.startswith("/v1/exports/")
    return await runtime.exports.download(url.removeprefix("/v1/exports/"))


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


async def test_the_export_holds_the_record_identifiers_events_receipts_and_requests_as_recorded(
    runtime: Runtime, subject: Subject
) -> None:
    request = await file_request(runtime, note="please send everything")
    assert (await runtime.exports.export_executor(request)).outcome is ExportOutcome.BUILT

    files = unzip((await exported(runtime, request.id)).archive)
    document = document_of(files)

    assert document.schema_version == SCHEMA_VERSION
    assert (document.subject_id, document.request_id, document.coverage.rule) == (subject.id, request.id, "everything")
    record = document.personal_record
    assert (record.name, record.email, record.address, record.birth_date) == (
        RECORD.name, EMAIL, RECORD.address, RECORD.birth_date,
    )  # fmt: skip
    assert record.attributes == {"loyalty_tier": "gold"}
    assert record.phone is not None
    assert record.phone.startswith("+81")
    assert {(i.kind, i.value) for i in document.identifiers} >= {("email", EMAIL)}
    assert document.consent_events == await fetch_history(runtime.pool, subject.id)
    assert [r.receipt_id for r in document.receipts] == [r.receipt_id for r in subject.receipts]
    assert [(p.purpose, p.status) for p in document.receipts[0].purposes] == [
        ("analytics", "granted"), ("personalisation", "denied"),
    ]  # fmt: skip
    [own] = document.requests
    assert (own.id, own.type, own.note) == (request.id, "access", "please send everything")


async def test_the_art_15_information_comes_from_the_active_policy(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)

    processing = document_of(unzip((await exported(runtime, request.id)).archive)).processing

    policy = runtime.policy.current.policy
    assert [p.id for p in processing.purposes] == sorted(policy.purposes)
    assert [r.id for r in processing.recipients] == sorted(policy.recipients)
    assert [r.data_category for r in processing.retention] == sorted(policy.retention)
    assert processing.complaints.authority == policy.controller.complaint_authority is not None
    assert [(s.source, s.properties) for s in processing.sources] == [("api", ["shop"])]
    assert {r.right for r in processing.rights} >= {"access", "erasure", "portability", "objection"}


async def test_the_csv_files_parse_and_agree_with_the_json(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)

    files = unzip((await exported(runtime, request.id)).archive)
    document = document_of(files)

    events = rows_of(files["consent_events.csv"])
    assert tuple(events[0]) == EVENT_CSV_COLUMNS
    assert [row["id"] for row in events] == [str(e.id) for e in document.consent_events]
    assert [datetime.fromisoformat(row["recorded_at"]) for row in events] == [
        e.recorded_at for e in document.consent_events
    ]
    assert [row["gpc"] for row in events] == ["false"] * len(events)
    receipts = rows_of(files["receipts.csv"])
    assert tuple(receipts[0]) == RECEIPT_CSV_COLUMNS
    assert [(row["receipt_id"], row["purposes"]) for row in receipts] == [
        (str(subject.receipts[0].receipt_id), "analytics=granted personalisation=denied"),
        (str(subject.receipts[1].receipt_id), "marketing_email=granted"),
    ]
    assert {row["field"]: row["value"] for row in rows_of(files["personal_record.csv"])}["email"] == EMAIL
    assert [row["id"] for row in rows_of(files["requests.csv"])] == [str(request.id)]
    assert [row["id"] for row in rows_of(files["purposes.csv"])] == [p.id for p in document.processing.purposes]
    assert rows_of(files["recipients.csv"])
    assert rows_of(files["retention.csv"])
    assert "How to complain" in files["README.txt"].decode()


async def test_the_manifest_is_signed_and_names_the_hash_of_every_file(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)

    files = unzip((await exported(runtime, request.id)).archive)

    manifest = msgspec.json.decode(verify_jws(files[MANIFEST].decode(), runtime.keys.signing_keys), type=Manifest)
    assert manifest.request_id == request.id
    assert manifest.files == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name != MANIFEST
    }


async def age(runtime: Runtime, subject: Subject, receipt: int, moment: datetime) -> None:
    await runtime.pool.execute(
        "UPDATE consent_events SET recorded_at = $3 WHERE subject_id = $1 AND receipt_id = $2",
        subject.id,
        subject.receipts[receipt].receipt_id,
        moment,
    )


async def test_ccpa_covers_the_last_12_months_and_everything_since_2022_on_request(runtime: Runtime) -> None:
    subject = await make_subject(runtime, Jurisdiction.CCPA)
    now = datetime.now(UTC)
    await age(runtime, subject, 0, now - timedelta(days=400))  # 13 months ago
    older = await record_choices(runtime, {"analytics": "denied"}, jurisdiction=Jurisdiction.CCPA)
    await age(runtime, msgspec.structs.replace(subject, receipts=[older]), 0, CCPA_EARLIEST - timedelta(days=1))

    default = await file_request(runtime, Jurisdiction.CCPA)
    await runtime.exports.export_executor(default)
    recent = document_of(unzip((await exported(runtime, default.id)).archive))
    everything = await file_request(runtime, Jurisdiction.CCPA, full_history=True, request_type=RequestType.PORTABILITY)
    await runtime.exports.export_executor(everything)
    full = document_of(unzip((await exported(runtime, everything.id)).archive))

    assert recent.coverage.rule == "last_12_months"
    assert recent.coverage.since is not None
    assert recent.coverage.since < default.received_at - timedelta(days=364)
    assert [r.receipt_id for r in recent.receipts] == [subject.receipts[1].receipt_id]
    assert full.coverage.rule == "since_2022"
    assert [r.receipt_id for r in full.receipts] == [subject.receipts[0].receipt_id, subject.receipts[1].receipt_id]
    assert all(e.recorded_at >= CCPA_EARLIEST for e in full.consent_events)


async def test_gdpr_covers_everything(runtime: Runtime, subject: Subject) -> None:
    await age(runtime, subject, 0, datetime(2019, 5, 1, tzinfo=UTC))
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)

    document = document_of(unzip((await exported(runtime, request.id)).archive))

    assert (document.coverage.rule, document.coverage.since) == ("everything", None)
    assert len(document.receipts) == 2
