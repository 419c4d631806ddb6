"""Data subject requests end to end: `/v1/requests`, its states, verification, and its effect on checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
EMAIL = {"email": "hanako@example.jp"}
ORIGIN = "https://shop.example"


class Keys(msgspec.Struct, kw_only=True, frozen=True):
    dsr: str
    check: str
    collect: str


@pytest.fixture
async def keys(make_key: MakeKey) -> Keys:
    return Keys(
        dsr=(await make_key(Scope.DSR)).token,
        check=(await make_key(Scope.CHECK)).token,
        collect=(await make_key(Scope.COLLECT, origins=[ORIGIN])).token,
    )


async def file(client: Client, token: str, status: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("subject", EMAIL)
    body.setdefault("jurisdiction", "gdpr")
    headers = bearer(token, Origin=ORIGIN) if token.startswith("pk_") else bearer(token)
    response = await client.post("/v1/requests", json=body, headers=headers)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def act(client: Client, token: str, request_id: str, action: str, status: int = 200, **body: Any) -> Any:
    headers = bearer(token, Origin=ORIGIN) if token.startswith("pk_") else bearer(token)
    response = await client.post(f"/v1/requests/{request_id}/{action}", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def reason(client: Client, keys: Keys, purpose: str, jurisdiction: str = "gdpr") -> str:
    response = await client.post(
        "/v1/check",
        json={"subject": EMAIL, "purposes": [purpose], "jurisdiction": jurisdiction},
        headers=bearer(keys.check),
    )
    assert response.status_code == 200, response.text
    found: str = response.json()["decisions"][purpose]["reason"]
    return found


async def issued_code(conn: Connection, request_id: str) -> str:
    payload = await conn.fetchval(
        "SELECT payload FROM outbox WHERE kind = 'verification.code' AND payload->>'request_id' = $1", request_id
    )
    assert payload is not None, "no code was enqueued"
    code: str = payload["code"]
    return code


async def test_a_trusted_access_request_is_verified_and_in_progress_with_its_gdpr_deadline(
    client: Client, keys: Keys
) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted", channel="email")
    assert body["state"] == "in_progress"
    received = datetime.fromisoformat(body["received_at"]).date()
    assert body["acknowledge_by"] is None
    assert body["extended"] is False
    assert date.fromisoformat(body["due_at"]) > received
    assert body["channel"] == "email"


async def test_a_ccpa_request_is_acknowledged_in_ten_business_days_past_the_holidays_and_due_in_45(
    client: Client, keys: Keys
) -> None:
    letter = "2025-12-19T16:00:00-08:00"  # a Friday; 25 December and 1 January are holidays
    body = await file(client, keys.dsr, type="access", verification="trusted", jurisdiction="ccpa", received_at=letter)
    assert (body["acknowledge_by"], body["due_at"]) == ("2026-01-06", "2026-02-02")


async def test_a_gdpr_month_from_31_january_ends_on_29_february_in_a_leap_year(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="erasure", verification="trusted", received_at="2024-01-31T10:00:00Z")
    assert body["due_at"] == "2024-02-29"
    body = await file(client, keys.dsr, type="access", verification="trusted", received_at="2023-01-31T10:00:00Z")
    assert body["due_at"] == "2023-02-28"


async def test_a_ccpa_opt_out_is_due_in_15_business_days(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="opt_out", jurisdiction="ccpa", received_at="2025-11-20T09:00:00-08:00")
    assert (body["acknowledge_by"], body["due_at"]) == (None, "2025-12-12")  # 27 November is Thanksgiving


async def test_only_a_compliance_key_may_date_a_request_back(client: Client, keys: Keys) -> None:
    refused = await file(client, keys.collect, 403, type="opt_out", received_at="2025-01-01T00:00:00Z")
    assert refused["field"] == "received_at"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = await file(client, keys.dsr, 422, type="opt_out", received_at=future)
    assert refused["field"] == "received_at"


@pytest.mark.usefixtures("exports_held")
async def test_lgpd_and_appi_requests_are_due_in_15_and_14_days(client: Client, keys: Keys) -> None:
    for jurisdiction, days in (("lgpd", 15), ("appi", 14)):
        body = await file(client, keys.dsr, type="portability", verification="trusted", jurisdiction=jurisdiction)
        received = datetime.fromisoformat(body["received_at"]).date()
        assert date.fromisoformat(body["due_at"]) == received + timedelta(days=days), jurisdiction
        await act(client, keys.dsr, body["id"], "reject", reason="test done")


async def test_an_open_request_of_the_same_type_for_the_same_person_is_returned_again(
    client: Client, keys: Keys
) -> None:
    first = await file(client, keys.dsr, type="access", verification="trusted")
    again = await file(
        client, keys.dsr, 200, type="access", verification="trusted", subject={"email": "HANAKO@example.jp"}
    )
    assert again["id"] == first["id"]
    other = await file(client, keys.dsr, type="portability", verification="trusted")
    assert other["id"] != first["id"]


async def test_a_manual_erasure_waits_for_approval_then_runs(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="erasure", verification="trusted")
    assert (body["state"], body["approval"]) == ("verified", "manual")
    approved = await act(client, keys.dsr, body["id"], "approve")
    assert approved["state"] == "in_progress"
    assert approved["approved_at"] is not None
    await act(client, keys.dsr, body["id"], "approve", 409)


async def test_a_code_verified_request_waits_for_the_code_the_mailer_was_given(
    client: Client, keys: Keys, conn: Connection
) -> None:
    body = await file(client, keys.collect, type="access", verification="code")
    assert body["state"] == "received"
    recipient = await conn.fetchval("SELECT recipient FROM outbox WHERE kind = 'verification.code'")
    assert recipient == "mailer"
    code = await issued_code(conn, body["id"])
    verified = await act(client, keys.collect, body["id"], "verify", code=code.lower())
    assert verified["state"] == "in_progress"


async def test_a_wrong_code_is_refused_and_counted_until_the_request_is_rejected(
    client: Client, keys: Keys, conn: Connection
) -> None:
    body = await file(client, keys.collect, type="access", verification="code")
    for left in (4, 3, 2, 1):
        refused = await act(client, keys.collect, body["id"], "verify", 422, code="WRONG000")
        assert (refused["field"], refused["attempts_left"]) == ("code", left)
    await act(client, keys.collect, body["id"], "verify", 409, code="WRONG000")
    shown = (await client.get(f"/v1/requests/{body['id']}", headers=bearer(keys.dsr))).json()
    assert shown["state"] == "rejected"
    assert shown["rejection_reason"] == "identity not verified: attempts exhausted"
    failures = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'request.verification_failed'")
    assert failures == 5


async def test_an_expired_code_rejects_the_request(client: Client, keys: Keys, conn: Connection) -> None:
    body = await file(client, keys.collect, type="erasure", verification="code")
    code = await issued_code(conn, body["id"])
    await conn.execute("UPDATE request_verifications SET expires_at = now() - interval '1 second'")
    refused = await act(client, keys.collect, body["id"], "verify", 409, code=code)
    assert refused["field"] == "code"
    shown = (await client.get(f"/v1/requests/{body['id']}", headers=bearer(keys.dsr))).json()
    assert shown["state"] == "rejected"


async def test_a_collect_key_may_not_assert_trusted_verification(client: Client, keys: Keys) -> None:
    refused = await file(client, keys.collect, 403, type="erasure", verification="trusted")
    assert refused["field"] == "verification"


async def test_a_request_that_needs_verification_says_so(client: Client, keys: Keys) -> None:
    refused = await file(client, keys.dsr, 422, type="erasure")
    assert refused["field"] == "verification"


@pytest.mark.usefixtures("exports_held")
async def test_an_extension_adds_two_months_once(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted")
    await act(client, keys.dsr, body["id"], "extend", 422)
    extended = await act(client, keys.dsr, body["id"], "extend", reason="complex request across three systems")
    assert extended["extended"] is True
    first = date.fromisoformat(body["due_at"])
    later = date.fromisoformat(extended["due_at"])
    assert (later.year * 12 + later.month) - (first.year * 12 + first.month) == 2
    await act(client, keys.dsr, body["id"], "extend", 409, reason="again")


@pytest.mark.usefixtures("exports_held")
async def test_an_extension_after_the_first_period_is_refused(client: Client, keys: Keys, conn: Connection) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted")
    await conn.execute("UPDATE requests SET due_at = current_date - 1")
    refused = await act(client, keys.dsr, body["id"], "extend", 409, reason="too late")
    assert refused["field"] == "due_at"


@pytest.mark.usefixtures("exports_held")
async def test_an_lgpd_request_cannot_be_extended(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted", jurisdiction="lgpd")
    refused = await act(client, keys.dsr, body["id"], "extend", 409, reason="busy")
    assert refused["field"] == "jurisdiction"


@pytest.mark.usefixtures("exports_held")
async def test_a_rejection_needs_a_reason(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted")
    refused = await act(client, keys.dsr, body["id"], "reject", 422)
    assert refused["field"] == "reason"
    await act(client, keys.dsr, body["id"], "reject", 422, reason="   ")
    rejected = await act(client, keys.dsr, body["id"], "reject", reason="manifestly unfounded (Art. 12(5))")
    assert (rejected["state"], rejected["rejection_reason"]) == ("rejected", "manifestly unfounded (Art. 12(5))")
    await act(client, keys.dsr, body["id"], "reject", 409, reason="twice")


async def test_an_opt_out_from_the_web_form_is_honoured_by_the_next_check(client: Client, keys: Keys) -> None:
    assert await reason(client, keys, "advertising", "ccpa") == "not_opted_out"
    body = await file(client, keys.collect, type="opt_out", jurisdiction="ccpa")
    assert body["state"] == "completed"
    assert body["verification"] == "none"
    assert await reason(client, keys, "advertising", "ccpa") == "denied"
    changes = await client.get("/v1/changes", headers=bearer(keys.check))
    assert {change["purpose"] for change in changes.json()["changes"]} >= {"advertising", "partner_sharing"}


async def test_an_objection_to_direct_marketing_is_honoured_by_the_next_check(client: Client, keys: Keys) -> None:
    body = await file(client, keys.collect, type="object")
    assert body["state"] == "completed"
    assert await reason(client, keys, "marketing_email") == "objected"
    assert await reason(client, keys, "analytics") == "not_asked"


async def test_an_objection_to_a_named_purpose_suppresses_only_it(client: Client, keys: Keys) -> None:
    await file(client, keys.dsr, type="object", purposes=["fraud_prevention"])
    assert await reason(client, keys, "fraud_prevention") == "objected"
    assert await reason(client, keys, "marketing_email") == "not_asked"


async def test_a_restriction_suppresses_every_purpose_that_rests_on_a_choice(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="restrict", verification="trusted")
    assert body["state"] == "completed"
    assert await reason(client, keys, "analytics") == "objected"
    assert await reason(client, keys, "strictly_necessary") == "necessary"


async def test_the_queue_filters_by_state_and_overdue(client: Client, keys: Keys, conn: Connection) -> None:
    access = await file(client, keys.dsr, type="access", verification="trusted")
    erasure = await file(client, keys.dsr, type="erasure", verification="trusted")
    await conn.execute("UPDATE requests SET due_at = current_date - 1 WHERE id = $1", erasure["id"])

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/requests?{query}", headers=bearer(keys.dsr))
        assert response.status_code == 200, response.text
        return [request["id"] for request in response.json()["requests"]]

    assert await ids("state=in_progress") == [access["id"]]
    assert await ids("overdue=true") == [erasure["id"]]
    assert await ids("type=erasure&jurisdiction=gdpr") == [erasure["id"]]
    assert await ids(f"after={access['id']}") == [erasure["id"]]
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    assert await ids(f"due_before={tomorrow}") == [erasure["id"]]


async def test_a_request_shows_its_deliveries_and_a_recipient_acknowledges_one(
    client: Client, keys: Keys, conn: Connection
) -> None:
    body = await file(client, keys.dsr, type="erasure", verification="trusted")
    await conn.execute(
        "INSERT INTO request_deliveries (request_id, recipient, state, created_at)"
        " VALUES ($1, 'mailer', 'sent', now())",
        body["id"],
    )
    shown = (await client.get(f"/v1/requests/{body['id']}", headers=bearer(keys.dsr))).json()
    assert [d["recipient"] for d in shown["deliveries"]] == ["mailer"]
    assert shown["export_url"] is None
    acked = await act(client, keys.dsr, body["id"], "deliveries/mailer/ack")
    assert acked["state"] == "acknowledged"
    await act(client, keys.dsr, body["id"], "deliveries/nobody/ack", 404)
    listed = (await client.get(f"/v1/requests/{body['id']}/deliveries", headers=bearer(keys.dsr))).json()
    assert listed[0]["acknowledged_at"] is not None


@pytest.mark.usefixtures("exports_held")
async def test_the_report_lists_requests_without_personal_values(client: Client, keys: Keys) -> None:
    body = await file(client, keys.dsr, type="access", verification="trusted", note="call after 6pm, Hanako")
    await act(client, keys.dsr, body["id"], "reject", reason="could not locate the data")
    today = datetime.now(UTC).date().isoformat()
    as_json = await client.get(f"/v1/reports/requests?from={today}&to={today}", headers=bearer(keys.dsr))
    assert as_json.status_code == 200, as_json.text
    (row,) = as_json.json()
    assert (row["type"], row["outcome"], row["denial_reason"]) == ("access", "rejected", "could not locate the data")
    as_csv = await client.get(f"/v1/reports/requests?from={today}&to={today}&format=csv", headers=bearer(keys.dsr))
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("request_id,received_at,type,channel")
    assert "hanako" not in (as_json.text + as_csv.text).lower()


async def test_the_request_routes_are_documented_with_their_scopes(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {operation["operationId"] for path in schema["paths"].values() for operation in path.values()}
    assert {"createRequest", "listRequests", "getRequest", "verifyRequest", "getRequestsReport"} <= operations
