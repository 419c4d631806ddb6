"""A subject with a personal record, consent choices and an access request, ready to export."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from uuid import UUID

import msgspec
import pytest

from consent.runtime import Runtime
from consent.service.exports import ExportDocument
from consent.service.recording.prepare import RecordOut
from consent.service.vault.personal_records import PersonalRecord, put_personal_record
from consent.store.requests import RequestRow
from policies import Jurisdiction, RequestType
from tests.helpers import record_through_service, trusted_filing

EMAIL = "hanako.yamada@example.jp"
RECORD = PersonalRecord(
    name="Hanako Yamada",
    email=EMAIL,
    phone="+81 90-1234-5678",
    address="1-2-3 Shibuya, Tokyo",
    birth_date=date(1990, 4, 1),
    attributes={"loyalty_tier": "gold"},
)


class Subject(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    receipts: list[RecordOut]


async def record_choices(runtime: Runtime, choices: dict[str, str], *, jurisdiction: Jurisdiction) -> RecordOut:
    identifier = runtime.subjects.identifier("email", EMAIL)
    return await record_through_service(runtime, identifier, choices, jurisdiction=jurisdiction, language="en")


async def make_subject(runtime: Runtime, jurisdiction: Jurisdiction = Jurisdiction.GDPR) -> Subject:
    first = await record_choices(
        runtime, {"analytics": "granted", "personalisation": "denied"}, jurisdiction=jurisdiction
    )
    second = await record_choices(runtime, {"marketing_email": "granted"}, jurisdiction=jurisdiction)
    await put_personal_record(runtime.pool, runtime.subjects, first.subject_id, RECORD, actor="test")
    return Subject(id=first.subject_id, receipts=[first, second])


async def file_request(
    runtime: Runtime,
    jurisdiction: Jurisdiction = Jurisdiction.GDPR,
    *,
    full_history: bool = False,
    note: str | None = None,
    request_type: RequestType = RequestType.ACCESS,
) -> RequestRow:
    received = await runtime.requests.receive(
        trusted_filing(runtime, EMAIL, request_type, jurisdiction, note=note, full_history=full_history)
    )
    assert received.request.state == "in_progress"
    return received.request


def unzip(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def document_of(files: dict[str, bytes]) -> ExportDocument:
    return msgspec.json.decode(files["export.json"], type=ExportDocument)


@pytest.fixture
async def subject(runtime: Runtime) -> Subject:
    return await make_subject(runtime)


@pytest.fixture(autouse=True)
async def exports_driven_by_the_tests(runtime: Runtime) -> None:
    """The tests call the export executor themselves: the runtime's job runner must not race them to it."""
    await runtime.jobs.stop()
