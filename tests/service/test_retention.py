"""Retention: personal data past its category's retention and request records past 24 months are deleted, audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from consent.jobs.housekeeping import HOUSEKEEPING
from consent.runtime import Runtime
from consent.service.housekeeping import ACTOR, run_housekeeping
from consent.service.retention import delete_expired_personal_data, delete_old_request_records
from consent.service.vault.personal_records import PersonalRecord, put_personal_record
from consent.store.requests import RequestRow
from policies import Jurisdiction, PersonalField, RequestType
from tests.helpers import eventually, keep_exports_waiting, trusted_filing


@pytest.fixture(autouse=True)
async def quiet(runtime: Runtime) -> None:
    """Wait for the runtime's own housekeeping run at start-up to end (the next one is an hour away),
    so rows these tests date back are deleted by the calls under test, not by that run."""

    async def done() -> bool:
        query = "SELECT true FROM jobs WHERE kind = $1 AND state = 'done'"
        return bool(await runtime.pool.fetchval(query, HOUSEKEEPING))

    await eventually(done)


CONTACT_DAYS = 1095  # policies/examples/shop.toml: [retention.contact], email, phone and address


async def person(
    runtime: Runtime, subject_id: UUID, email: str = "hanako@example.jp", phone: str = "+81 90 1234 5678"
) -> None:
    record = PersonalRecord(name="Yamada Hanako", email=email, phone=phone, birth_date=date(2001, 4, 1))
    created, _ = await put_personal_record(runtime.pool, runtime.subjects, subject_id, record, actor="test")
    assert created


async def age_fields(runtime: Runtime, subject_id: UUID, fields: list[str], days: int) -> None:
    await runtime.pool.execute(
        "UPDATE personal_records SET updated_at = updated_at - make_interval(days => $3)"
        " WHERE subject_id = $1 AND field = ANY($2::text[])",
        subject_id,
        fields,
        days,
    )


async def stored_fields(runtime: Runtime, subject_id: UUID) -> list[str]:
    rows = await runtime.pool.fetch(
        "SELECT field FROM personal_records WHERE subject_id = $1 ORDER BY field", subject_id
    )
    return [row["field"] for row in rows]


async def test_contact_fields_past_their_retention_go_with_their_lookups_and_the_rest_stays(runtime: Runtime) -> None:
    old, fresh = UUID("01939e3c-6f28-7b00-9a00-000000000001"), UUID("01939e3c-6f28-7b00-9a00-000000000002")
    await person(runtime, old)
    await age_fields(runtime, old, ["email", "phone"], CONTACT_DAYS + 1)
    await person(runtime, fresh, "taro@example.jp", "+81 90 8765 4321")
    await age_fields(runtime, fresh, ["email", "phone"], CONTACT_DAYS - 1)

    deleted = await delete_expired_personal_data(
        runtime.pool, runtime.policy.current.policy, now=datetime.now(UTC), actor=ACTOR
    )

    assert deleted == 2
    assert await stored_fields(runtime, old) == ["birth_date", "name"]
    assert await stored_fields(runtime, fresh) == ["birth_date", "email", "name", "phone"]
    kinds = await runtime.pool.fetch("SELECT subject_id, kind FROM subject_identifiers ORDER BY subject_id, kind")
    assert [(row["subject_id"], row["kind"]) for row in kinds] == [(fresh, "email"), (fresh, "phone")]
    [entry] = await runtime.pool.fetch(
        "SELECT actor, target, detail FROM audit_log WHERE action = 'personal_data.expired'"
    )
    assert (entry["actor"], entry["target"]) == (ACTOR, {"subject_id": str(old)})
    assert entry["detail"] == {"category": "contact", "fields": ["email", "phone"]}
    assert (
        await delete_expired_personal_data(
            runtime.pool, runtime.policy.current.policy, now=datetime.now(UTC), actor=ACTOR
        )
        == 0
    )


async def test_an_expired_birth_date_is_no_longer_read_by_the_check(runtime: Runtime) -> None:
    subject = UUID("01939e3c-6f28-7b00-9a00-000000000003")
    await person(runtime, subject)
    assert (
        await runtime.pool.fetchval("SELECT birth_date FROM subject_facts WHERE subject_id = $1", subject) is not None
    )
    later = datetime.now(UTC) + timedelta(days=CONTACT_DAYS + 1)  # account and contact both keep 1095 days

    assert await delete_expired_personal_data(runtime.pool, runtime.policy.current.policy, now=later, actor=ACTOR) == 3

    assert await stored_fields(runtime, subject) == ["name"]  # an order's: kept seven years for invoices
    assert await runtime.pool.fetchval("SELECT birth_date FROM subject_facts WHERE subject_id = $1", subject) is None
    assert await runtime.pool.fetchval("SELECT count(*) FROM subject_identifiers") == 0
    # The subject and its key stay: only the data past its retention went.
    assert await runtime.pool.fetchval("SELECT count(*) FROM subject_keys WHERE subject_id = $1", subject) == 1
    details = await runtime.pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'personal_data.expired' ORDER BY detail->>'category'"
    )
    assert [dict(row["detail"]) for row in details] == [
        {"category": "account", "fields": ["birth_date"]},
        {"category": "contact", "fields": ["email", "phone"]},
    ]


async def file(runtime: Runtime, request_type: RequestType, email: str, **extra: object) -> RequestRow:
    keep_exports_waiting(runtime)
    received = await runtime.requests.receive(trusted_filing(runtime, email, request_type, Jurisdiction.CCPA, **extra))
    return received.request


async def close_months_ago(runtime: Runtime, request: RequestRow, months: int, *, state: str) -> None:
    """Date a request back: received and closed (`state`) `months` calendar months before now."""
    closed = "completed_at" if state == "completed" else "rejected_at"
    await runtime.pool.execute(
        f"UPDATE requests SET state = $2, {closed} = now() - make_interval(months => $3),"
        " rejection_reason = CASE WHEN $2 = 'rejected' THEN 'not verified' END,"
        " received_at = now() - make_interval(months => $3 + 1) WHERE id = $1",
        request.id,
        state,
        months,
    )


async def test_requests_closed_over_24_months_ago_are_deleted_and_audited_without_the_subject(runtime: Runtime) -> None:
    completed = await file(runtime, RequestType.ACCESS, "a@example.com", note="called twice")
    rejected = await file(runtime, RequestType.ERASURE, "b@example.com")
    recent = await file(runtime, RequestType.ACCESS, "c@example.com")
    still_open = await file(runtime, RequestType.ACCESS, "d@example.com")
    await close_months_ago(runtime, completed, 25, state="completed")
    await close_months_ago(runtime, rejected, 25, state="rejected")
    await close_months_ago(runtime, recent, 23, state="completed")
    await runtime.pool.execute(
        "UPDATE requests SET received_at = now() - interval '3 years' WHERE id = $1", still_open.id
    )
    await runtime.pool.execute(
        "INSERT INTO request_deliveries (request_id, recipient, state, created_at)"
        " VALUES ($1, 'mailer', 'acknowledged', now())",
        completed.id,
    )

    assert await delete_old_request_records(runtime.pool, now=datetime.now(UTC), actor=ACTOR) == 2

    kept = await runtime.pool.fetch("SELECT id FROM requests")
    assert {row["id"] for row in kept} == {recent.id, still_open.id}  # (ids made in one millisecond: no order)
    assert await runtime.pool.fetchval("SELECT count(*) FROM request_deliveries") == 0
    entries = await runtime.pool.fetch(
        "SELECT target, detail FROM audit_log WHERE action = 'request.record_deleted' ORDER BY detail->>'type'"
    )
    assert [dict(row["target"]) for row in entries] == [
        {"request_id": str(completed.id)},
        {"request_id": str(rejected.id)},
    ]
    assert [(row["detail"]["type"], row["detail"]["outcome"]) for row in entries] == [
        ("access", "completed"),
        ("erasure", "rejected"),
    ]
    assert await delete_old_request_records(runtime.pool, now=datetime.now(UTC), actor=ACTOR) == 0


async def test_deletion_goes_on_batch_after_batch(runtime: Runtime) -> None:
    for n in range(1, 4):
        subject = UUID(f"01939e3c-6f28-7b00-9a00-{n:012d}")
        await put_personal_record(
            runtime.pool, runtime.subjects, subject, PersonalRecord(email=f"p{n}@example.com"), actor="test"
        )
        request = await file(runtime, RequestType.ACCESS, f"p{n}@example.com")
        await close_months_ago(runtime, request, 30, state="completed")
    later = datetime.now(UTC) + timedelta(days=CONTACT_DAYS + 1)
    policy = runtime.policy.current.policy

    assert await delete_expired_personal_data(runtime.pool, policy, now=later, actor=ACTOR, batch=2) == 3
    assert await delete_old_request_records(runtime.pool, now=later, actor=ACTOR, batch=2) == 3
    assert await runtime.pool.fetchval("SELECT count(*) FROM personal_records") == 0
    assert await runtime.pool.fetchval("SELECT count(*) FROM requests") == 0


async def test_a_housekeeping_run_applies_both_retentions(runtime: Runtime) -> None:
    subject = UUID("01939e3c-6f28-7b00-9a00-000000000009")
    await put_personal_record(
        runtime.pool, runtime.subjects, subject, PersonalRecord(phone="+81 3 1234 5678"), actor="test"
    )
    request = await file(runtime, RequestType.OPT_OUT, "q@example.com")
    await close_months_ago(runtime, request, 25, state="completed")
    later = datetime.now(UTC) + timedelta(days=CONTACT_DAYS + 1)

    done = await run_housekeeping(runtime.pool, runtime.policy.current, now=later, retention=timedelta(days=7))

    assert (done.personal_fields_deleted, done.requests_deleted) == (1, 1)


def test_the_policy_names_exactly_the_fields_a_personal_record_has() -> None:
    assert set(PersonalRecord.__struct_fields__) == {field.value for field in PersonalField}
