"""Requests received together share one statement, and each still gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest

from consent.ids import uuid7
from consent.runtime import Runtime
from consent.service.requests import receipt_batches
from consent.service.requests.receipt_batches import ReceiptBatches
from consent.store import request_receipt
from consent.store.pool import Connection
from consent.store.request_receipt import HELD, Receipt
from consent.store.requests import NewRequest, RequestRow
from consent.store.vault import NewSubjects
from policies import RequestType
from tests.helpers import trusted_filing


@pytest.fixture
async def batches(runtime: Runtime) -> AsyncIterator[ReceiptBatches]:
    """Receipt batches of the test's own, beside the runtime's."""
    own = ReceiptBatches(runtime.database_url)
    yield own
    await own.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of receipts each receipt statement carried."""
    sizes: list[int] = []
    original = request_receipt.receive_requests

    async def counted(conn: Any, receipts: Sequence[Receipt]) -> Any:
        sizes.append(len(receipts))
        return await original(conn, receipts)

    monkeypatch.setattr(receipt_batches, "receive_requests", counted)
    return sizes


async def test_requests_received_at_the_same_time_share_statements(
    runtime: Runtime, conn: Connection, statements: list[int]
) -> None:
    emails = [f"person-{n}@example.com" for n in range(12)]
    received = await asyncio.gather(*(runtime.requests.receive(trusted_filing(runtime, email)) for email in emails))

    assert all(r.created and r.request.state == "in_progress" for r in received)
    assert sum(statements) == 12
    assert max(statements) > 1, statements  # the first went alone; the others waited for it together
    assert len(statements) < 12
    ids = [r.request.id for r in received]
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE id = ANY($1)", ids) == 12
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE subject_id = ANY($1)", [r.request.subject_id for r in received]
        )
        == 12
    )
    # Each request's receipt entries, in the order they happened, positioned in that order.
    rows = await conn.fetch(
        "SELECT target->>'request_id' AS request, action FROM audit_log"
        " WHERE target->>'request_id' = ANY($1) AND action LIKE 'request.%' ORDER BY position",
        [str(i) for i in ids],
    )
    actions: dict[str, list[str]] = {}
    for row in rows:
        actions.setdefault(row["request"], []).append(row["action"])
    assert actions == {str(i): ["request.received", "request.verified", "request.in_progress"] for i in ids}


async def test_the_same_request_twice_in_one_batch_is_written_once(
    runtime: Runtime, conn: Connection, statements: list[int], batches: ReceiptBatches
) -> None:
    known = await runtime.requests.receive(trusted_filing(runtime, "known@example.com", RequestType.PORTABILITY))
    statements.clear()
    now = datetime.now(UTC)
    twice = [_receipt_of(known.request.subject_id, now, _no_subjects(now)) for _ in range(2)]
    first, second = await asyncio.gather(*(batches.receive(r) for r in twice))

    assert statements == [2]
    assert isinstance(first, RequestRow)
    assert first.id == twice[0].request.id
    assert first.purposes == ["analytics"]  # arrays and byte strings travel as JSON, and arrive whole
    assert await conn.fetchval("SELECT note_ciphertext FROM requests WHERE id = $1", first.id) == b"\x00\xff"
    assert second is None  # the subject's open request of this type: the caller answers with it
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE id = $1", twice[1].request.id) == 0


async def test_a_new_person_twice_in_one_batch_is_created_once(
    runtime: Runtime, conn: Connection, statements: list[int], batches: ReceiptBatches
) -> None:
    """Both plan a new subject for the same email: they go one after the other, and the second
    finds the identifier held (its caller looks it up and sends its request again)."""
    twice = [await _receipt(runtime, "new@example.com") for _ in range(2)]
    answers = await asyncio.gather(*(batches.receive(r) for r in twice), return_exceptions=True)

    assert statements == [1, 1]
    assert getattr(answers[0], "id", None) == twice[0].request.id
    assert answers[1] is HELD
    index = runtime.subjects.index_of(runtime.subjects.identifier("email", "new@example.com"))
    assert await conn.fetchval("SELECT count(*) FROM subject_identifiers WHERE blind_index = $1", index) == 1


async def test_a_known_person_not_remembered_is_found_after_the_statement_reports_it(
    runtime: Runtime, conn: Connection, statements: list[int]
) -> None:
    first = await runtime.requests.receive(trusted_filing(runtime, "known@example.com", RequestType.PORTABILITY))
    runtime.subjects.clear()  # as another process would be: it never saw this person
    statements.clear()
    second = await runtime.requests.receive(trusted_filing(runtime, "known@example.com"))

    assert second.created
    assert second.request.subject_id == first.request.subject_id
    assert statements == [1, 1]  # a new subject planned and reported held; the request sent again with the one found
    index = runtime.subjects.index_of(runtime.subjects.identifier("email", "known@example.com"))
    assert await conn.fetchval("SELECT count(*) FROM subject_identifiers WHERE blind_index = $1", index) == 1
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1


async def test_a_receipt_the_database_refuses_fails_alone(
    runtime: Runtime, conn: Connection, batches: ReceiptBatches
) -> None:
    good = [await _receipt(runtime, f"good-{n}@example.com") for n in range(3)]
    bad = _receipt_of(uuid7(), datetime.now(UTC), _no_subjects(datetime.now(UTC)))
    bad = msgspec.structs.replace(bad, request=msgspec.structs.replace(bad.request, channel="pigeon"))
    answers = await asyncio.gather(*(batches.receive(r) for r in [good[0], bad, *good[1:]]), return_exceptions=True)

    assert isinstance(answers[1], asyncpg.CheckViolationError)
    written = [a for n, a in enumerate(answers) if n != 1]
    assert [getattr(a, "id", a) for a in written] == [r.request.id for r in good]
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE id = $1", bad.request.id) == 0


async def _receipt(runtime: Runtime, email: str) -> Receipt:
    """A new subject for `email` and an access request of it."""
    subject_id, now = uuid7(), datetime.now(UTC)
    creating = await runtime.subjects.new_subjects([(runtime.subjects.identifier("email", email), subject_id)], now)
    return _receipt_of(subject_id, now, creating)


def _no_subjects(now: datetime) -> NewSubjects:
    return NewSubjects(
        subject_ids=[], master_versions=[], wrapped_keys=[], kinds=[], blind_indexes=[], ciphertexts=[], created_at=now
    )


def _receipt_of(subject_id: UUID, now: datetime, creating: NewSubjects) -> Receipt:
    request = NewRequest(
        id=uuid7(),
        subject_id=subject_id,
        type="access",
        state="verified",
        jurisdiction="gdpr",
        channel="web",
        verification="trusted",
        approval="automatic",
        purposes=["analytics"],
        received_at=now,
        acknowledge_by=None,
        due_at=now.date(),
        note_ciphertext=b"\x00\xff",
        corrections_ciphertext=None,
        created_by="test",
    )
    return Receipt(request=request, audit=[], job=None, subjects=creating)
