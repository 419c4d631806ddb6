"""Recording consent (`POST /v1/consents`), withdrawing it, and reading a subject's consents."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.ids import uuid7
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer, choices, stored

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
VISITOR_IP = "203.0.113.77"

# From InteractiveAdvertisingBureau/iabtcf-java, TCStringV2Test (made with the IAB's own encoder);
# tests/policies/test_tcf.py checks the values its source states.
TC_STRING = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"


def decision(purpose: str, status: str, notice_version: int = 1) -> dict[str, Any]:
    return {"purpose": purpose, "status": status, "notice_version": notice_version}


async def check(client: Client | httpx.AsyncClient, token: str, subject: dict[str, Any], **body: Any) -> Any:
    response = await client.post("/v1/check", json={"subject": subject, **body}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def local(app: Litestar, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client that runs the app on the test's own event loop, from a visitor's IP address.

    Litestar's test client runs the app in a separate thread and blocks on each call, so
    requests sent with `asyncio.gather` through it would still arrive one at a time.
    """
    app.state.runtime = runtime
    # httpx types ASGI apps more narrowly than Litestar declares its __call__.
    transport = httpx.ASGITransport(app=cast("Any", app), client=(VISITOR_IP, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://consent.test") as http:
        yield http


# --- recording ----------------------------------------------------------------------------------


async def test_a_banner_records_choices_and_gets_decisions_and_a_receipt(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 201, response.text
    body = response.json()
    UUID(body["subject_id"])
    assert len(body["event_ids"]) == 2
    assert body["policy_version"] >= 1
    assert body["decisions"]["analytics"]["allowed"] is True
    assert body["decisions"]["analytics"]["reason"] == "granted"
    assert body["decisions"]["analytics"]["expires_at"] is not None
    assert body["decisions"]["marketing_email"] == {"allowed": False, "reason": "denied", "expires_at": None}
    assert body["receipt"].count(".") == 2


async def test_recording_stores_one_event_per_decision_and_the_current_state(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    rows = await conn.fetch("SELECT id, purpose, status, source, gpc FROM consent_events ORDER BY purpose")
    assert [(r["purpose"], r["status"], r["source"], r["gpc"]) for r in rows] == [
        ("analytics", "granted", "banner", False),
        ("marketing_email", "denied", "banner", False),
    ]
    assert {str(r["id"]) for r in rows} == set(response.json()["event_ids"])
    assert await stored(conn) == (2, 2)


async def test_a_second_choice_by_the_same_device_reuses_its_subject(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    again = await client.post(
        "/v1/consents",
        json=choices(action="reject_all", decisions=[decision("analytics", "denied", 2)]),
        headers=bearer(key.token, Origin=ORIGIN),
    )
    assert again.status_code == 201
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1


@dataclass(frozen=True)
class Rejection:
    change: dict[str, Any]
    status: int
    field: str


REJECTIONS = {
    "unknown purpose": Rejection(
        {"decisions": [decision("analytics", "granted", 2), decision("telepathy", "granted")]},
        422,
        "decisions[1].purpose",
    ),
    "duplicate purpose": Rejection(
        {"decisions": [decision("analytics", "granted", 2), decision("analytics", "denied", 2)]},
        422,
        "decisions[1].purpose",
    ),
    "exempt purpose": Rejection(
        {"decisions": [decision("strictly_necessary", "granted")]}, 422, "decisions[0].purpose"
    ),
    "notice newer than current": Rejection(
        {"decisions": [decision("analytics", "granted", 3)]}, 422, "decisions[0].notice_version"
    ),
    "grant with reject_all": Rejection(
        {"action": "reject_all", "decisions": [decision("personalisation", "granted")]}, 422, "decisions[0].status"
    ),
    "grant with withdraw": Rejection(
        {"action": "withdraw", "decisions": [decision("personalisation", "granted")]}, 422, "decisions[0].status"
    ),
    "denial with accept_all": Rejection(
        {"action": "accept_all", "decisions": [decision("analytics", "granted", 2), decision("advertising", "denied")]},
        422,
        "decisions[1].status",
    ),
    "unknown status": Rejection({"decisions": [decision("analytics", "maybe", 2)]}, 422, "decisions[0].status"),
    "no decisions (and no GPC signal)": Rejection({"decisions": []}, 422, "decisions"),
    "unknown field": Rejection({"colour": "blue"}, 422, "colour"),
    "bad language": Rejection({"language": "en_GB!"}, 422, "language"),
    "malformed TC string": Rejection({"tcf": "not-a-tc-string"}, 422, "tcf"),
    "two subject identifiers": Rejection(
        {"subject": {"device_id": "d_1-00000000000000000000", "email": "a@example.com"}}, 422, "subject"
    ),
    # PostgreSQL text cannot hold NUL: refused up front, never a failed write.
    "NUL in the property": Rejection({"property": "shop\u0000"}, 422, "property"),
    "control character in the property": Rejection({"property": "shop\n"}, 422, "property"),
}


@pytest.mark.parametrize("rejection", REJECTIONS.values(), ids=REJECTIONS.keys())
async def test_a_rejected_request_is_a_problem_naming_the_field_and_stores_nothing(
    client: Client, make_key: MakeKey, conn: Connection, rejection: Rejection
) -> None:
    key = await make_key(Scope.DSR)
    response = await client.post("/v1/consents", json=choices(**rejection.change), headers=bearer(key.token))
    assert response.status_code == rejection.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == rejection.field
    assert await stored(conn) == (0, 0)
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 0


async def test_a_notice_below_the_minimum_is_409_with_the_current_notices(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents",
        json=choices(decisions=[decision("analytics", "granted", 2), decision("partner_sharing", "granted", 2)]),
        headers=bearer(key.token, Origin=ORIGIN),
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["field"] == "decisions"
    assert problem["current_notices"] == {"partner_sharing": {"notice_version": 3, "min_notice_version": 3}}
    assert problem["policy_version"] >= 1
    assert await stored(conn) == (0, 0)


async def test_a_valid_tc_string_is_decoded_into_the_proof(client: Client, make_key: MakeKey, conn: Connection) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post("/v1/consents", json=choices(tcf=TC_STRING), headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 201, response.text
    proofs = await conn.fetch("SELECT proof FROM consent_events")
    assert len(proofs) == 2
    for row in proofs:
        assert row["proof"]["tcf"]["cmp_id"] == 675
        assert row["proof"]["tcf"]["vendor_list_version"] == 15
        assert row["proof"]["tcf"]["purposes_consent"] == [2, 10]


@pytest.mark.parametrize(
    ("geo", "jurisdiction"),
    [({"cf-ipcountry": "DE"}, "gdpr"), ({"cf-ipcountry": "US", "cf-region-code": "CA"}, "ccpa"), ({}, "default")],
    ids=["EU", "California", "unknown"],
)
async def test_without_a_jurisdiction_the_cdns_geo_headers_decide(
    client: Client, make_key: MakeKey, conn: Connection, geo: dict[str, str], jurisdiction: str
) -> None:
    key = await make_key(Scope.COLLECT)
    body = choices()
    del body["jurisdiction"]
    response = await client.post("/v1/consents", json=body, headers=bearer(key.token, Origin=ORIGIN, **geo))
    assert response.status_code == 201, response.text
    assert await conn.fetchval("SELECT DISTINCT jurisdiction FROM consent_events") == jurisdiction


# --- proof without personal data ---------------------------------------------------------------


async def test_the_raw_ip_is_never_stored_only_its_prefix(
    local: httpx.AsyncClient, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    response = await local.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 201, response.text
    proof = await conn.fetchval("SELECT proof FROM consent_events LIMIT 1")
    assert proof["ip_prefix"] == "203.0.113.0/24"
    dump = await conn.fetchval("SELECT string_agg(e::text, ' ') FROM consent_events e")
    assert VISITOR_IP not in dump


async def test_the_user_agent_is_stored_only_as_a_keyed_hmac(
    client: Client, app: Litestar, make_key: MakeKey, conn: Connection
) -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    key = await make_key(Scope.COLLECT)
    await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN, **{"User-Agent": agent}))
    proof = await conn.fetchval("SELECT proof FROM consent_events LIMIT 1")
    plain = hashlib.sha256(agent.encode()).hexdigest()
    assert "user_agent_sha256" not in proof
    assert proof["user_agent_hmac"] == app.state.runtime.keys.index_key.user_agent_proof(plain)
    assert proof["user_agent_hmac"] != plain
    assert proof["origin"] == ORIGIN
    dump = await conn.fetchval("SELECT string_agg(e::text, ' ') FROM consent_events e")
    assert "Firefox" not in dump


# --- publishable keys ---------------------------------------------------------------------------


async def test_a_collect_key_records_from_its_origin_with_cors_headers(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT, origins=[ORIGIN])
    response = await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers["vary"]


async def test_a_browser_preflight_from_an_allowed_origin_is_answered(client: Client, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    response = await client.options(
        "/v1/consents",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, sec-gpc",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "idempotency-key" in response.headers["access-control-allow-headers"]


@pytest.mark.parametrize("origin", [None, "https://evil.example"], ids=["no origin", "foreign origin"])
async def test_a_collect_key_is_refused_without_its_origin(
    client: Client, make_key: MakeKey, conn: Connection, origin: str | None
) -> None:
    key = await make_key(Scope.COLLECT, origins=[ORIGIN])
    headers = bearer(key.token) if origin is None else bearer(key.token, Origin=origin)
    response = await client.post("/v1/consents", json=choices(), headers=headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert await stored(conn) == (0, 0)


@pytest.mark.parametrize("kind", ["user_id", "email"])
async def test_a_collect_key_may_not_record_for_a_known_person(
    client: Client, make_key: MakeKey, conn: Connection, kind: str
) -> None:
    key = await make_key(Scope.COLLECT)
    value = "u-42" if kind == "user_id" else "hanako@example.jp"
    response = await client.post(
        "/v1/consents", json=choices(subject={kind: value}), headers=bearer(key.token, Origin=ORIGIN)
    )
    assert response.status_code == 403
    assert response.json()["field"] == f"subject.{kind}"
    assert value not in response.text
    assert await stored(conn) == (0, 0)


async def test_a_collect_key_may_not_check(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/check",
        json={"subject": {"device_id": "d_7Hq2visitor-0000000000"}},
        headers=bearer(key.token, Origin=ORIGIN),
    )
    assert response.status_code == 403


async def test_a_collect_key_may_not_read_a_subjects_consents(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(key.token, Origin=ORIGIN))
    subject_id = recorded.json()["subject_id"]
    response = await client.get(f"/v1/subjects/{subject_id}/consents", headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 403


@pytest.mark.parametrize("scope", [Scope.DSR, Scope.ADMIN])
@pytest.mark.parametrize("subject", [{"user_id": "u-42"}, {"email": "hanako@example.jp"}], ids=["user_id", "email"])
async def test_a_secret_key_records_for_a_known_person(
    client: Client, make_key: MakeKey, scope: Scope, subject: dict[str, str]
) -> None:
    key = await make_key(scope)
    response = await client.post("/v1/consents", json=choices(subject=subject, action="api"), headers=bearer(key.token))
    assert response.status_code == 201, response.text


async def test_a_check_key_may_not_record(client: Client, make_key: MakeKey, conn: Connection) -> None:
    key = await make_key(Scope.CHECK)
    response = await client.post("/v1/consents", json=choices(), headers=bearer(key.token))
    assert response.status_code == 403
    assert await stored(conn) == (0, 0)


# --- Idempotency-Key ----------------------------------------------------------------------------


async def test_the_same_idempotency_key_and_body_replays_the_first_answer(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    headers = bearer(key.token, Origin=ORIGIN, **{"Idempotency-Key": "banner-click-1"})
    first = await client.post("/v1/consents", json=choices(), headers=headers)
    again = await client.post("/v1/consents", json=choices(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["event_ids"] == first.json()["event_ids"]
    assert again.json()["receipt"] == first.json()["receipt"]
    assert await stored(conn) == (2, 2)


async def test_the_same_idempotency_key_with_another_body_is_422(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    headers = bearer(key.token, Origin=ORIGIN, **{"Idempotency-Key": "banner-click-1"})
    await client.post("/v1/consents", json=choices(), headers=headers)
    other = await client.post("/v1/consents", json=choices(language="ja"), headers=headers)
    assert other.status_code == 422
    assert other.json()["field"] == "idempotency-key"
    assert await stored(conn) == (2, 2)


async def test_idempotency_keys_of_different_api_keys_do_not_collide(client: Client, make_key: MakeKey) -> None:
    one, two = await make_key(Scope.DSR, name="one"), await make_key(Scope.DSR, name="two")
    first = await client.post("/v1/consents", json=choices(), headers=bearer(one.token, **{"Idempotency-Key": "k"}))
    second = await client.post("/v1/consents", json=choices(), headers=bearer(two.token, **{"Idempotency-Key": "k"}))
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers
    assert second.json()["event_ids"] != first.json()["event_ids"]


async def test_concurrent_requests_with_one_idempotency_key_write_once(
    local: httpx.AsyncClient, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    headers = bearer(key.token, Origin=ORIGIN, **{"Idempotency-Key": "double-click"})
    responses = await asyncio.gather(*(local.post("/v1/consents", json=choices(), headers=headers) for _ in range(6)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({tuple(r.json()["event_ids"]) for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    assert await stored(conn) == (2, 2)
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1


# --- Global Privacy Control ----------------------------------------------------------------------


async def test_gpc_under_ccpa_opts_out_of_sale_and_sharing(client: Client, make_key: MakeKey, conn: Connection) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents",
        json=choices(jurisdiction="ccpa", decisions=[decision("analytics", "granted", 2)]),
        headers=bearer(key.token, Origin=ORIGIN, **{"Sec-GPC": "1"}),
    )
    assert response.status_code == 201, response.text
    rows = await conn.fetch("SELECT purpose, status, source, gpc FROM consent_events ORDER BY purpose")
    assert [(r["purpose"], r["status"], r["source"]) for r in rows] == [
        ("advertising", "denied", "gpc"),
        ("analytics", "granted", "banner"),
        ("partner_sharing", "denied", "gpc"),
    ]
    assert all(r["gpc"] for r in rows)
    decisions = response.json()["decisions"]
    assert decisions["advertising"]["reason"] == decisions["partner_sharing"]["reason"] == "gpc_opt_out"


async def test_a_recorded_gpc_opt_out_holds_for_later_checks_without_the_signal(
    client: Client, make_key: MakeKey
) -> None:
    collect, checker = await make_key(Scope.COLLECT), await make_key(Scope.CHECK)
    await client.post(
        "/v1/consents",
        json=choices(jurisdiction="ccpa", decisions=[decision("analytics", "granted", 2)]),
        headers=bearer(collect.token, Origin=ORIGIN, **{"Sec-GPC": "1"}),
    )
    answer = await check(client, checker.token, {"device_id": "d_7Hq2visitor-0000000000"})
    assert answer["jurisdiction"] == "ccpa"
    for purpose in ("advertising", "partner_sharing"):
        assert answer["decisions"][purpose] == {"allowed": False, "reason": "gpc_opt_out", "expires_at": None}
    assert answer["decisions"]["analytics"]["allowed"] is True


async def test_gpc_where_the_jurisdiction_ignores_it_is_recorded_without_opt_outs(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    """LGPD does not honour GPC in the shop's policy (its GDPR rules do, as a withdrawal)."""
    key = await make_key(Scope.COLLECT)
    await client.post(
        "/v1/consents",
        json=choices(jurisdiction="lgpd"),
        headers=bearer(key.token, Origin=ORIGIN, **{"Sec-GPC": "1"}),
    )
    rows = await conn.fetch("SELECT purpose, source, gpc FROM consent_events")
    assert {r["purpose"] for r in rows} == {"analytics", "marketing_email"}
    assert all(r["gpc"] and r["source"] == "banner" for r in rows)
    assert await conn.fetchval("SELECT gpc_opt_out_at FROM subject_facts") is None


@pytest.mark.parametrize("header", ["0", "true", " 1", "yes"])
async def test_only_sec_gpc_exactly_1_is_gpc(client: Client, make_key: MakeKey, conn: Connection, header: str) -> None:
    key = await make_key(Scope.COLLECT)
    await client.post(
        "/v1/consents",
        json=choices(jurisdiction="ccpa"),
        headers=bearer(key.token, Origin=ORIGIN, **{"Sec-GPC": header}),
    )
    rows = await conn.fetch("SELECT purpose, gpc FROM consent_events")
    assert {r["purpose"] for r in rows} == {"analytics", "marketing_email"}
    assert not any(r["gpc"] for r in rows)


# --- withdrawal ----------------------------------------------------------------------------------


async def test_withdrawing_through_the_record_endpoint_makes_checks_deny(client: Client, make_key: MakeKey) -> None:
    collect, checker = await make_key(Scope.COLLECT), await make_key(Scope.CHECK)
    await client.post("/v1/consents", json=choices(), headers=bearer(collect.token, Origin=ORIGIN))
    withdrawn = await client.post(
        "/v1/consents",
        json=choices(action="withdraw", decisions=[decision("analytics", "denied", 2)]),
        headers=bearer(collect.token, Origin=ORIGIN),
    )
    assert withdrawn.status_code == 201
    assert withdrawn.json()["decisions"]["analytics"] == {"allowed": False, "reason": "withdrawn", "expires_at": None}
    answer = await check(client, checker.token, {"device_id": "d_7Hq2visitor-0000000000"}, purposes=["analytics"])
    assert answer["decisions"]["analytics"]["reason"] == "withdrawn"


async def test_withdrawing_with_delete_makes_checks_deny(client: Client, make_key: MakeKey, conn: Connection) -> None:
    dsr, checker = await make_key(Scope.DSR), await make_key(Scope.CHECK)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))
    subject_id = recorded.json()["subject_id"]
    withdrawn = await client.delete(f"/v1/subjects/{subject_id}/consents/analytics", headers=bearer(dsr.token))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["decisions"]["analytics"]["reason"] == "withdrawn"
    answer = await check(client, checker.token, {"subject_id": subject_id}, purposes=["analytics"])
    assert answer["decisions"]["analytics"] == {"allowed": False, "reason": "withdrawn", "expires_at": None}
    row = await conn.fetchrow("SELECT status, action, jurisdiction FROM consent_events ORDER BY recorded_at DESC")
    assert row is not None
    assert dict(row) == {"status": "withdrawn", "action": "withdraw", "jurisdiction": "gdpr"}


async def test_withdrawing_for_an_unknown_subject_is_404(client: Client, make_key: MakeKey) -> None:
    dsr = await make_key(Scope.DSR)
    response = await client.delete(f"/v1/subjects/{uuid7()}/consents/analytics", headers=bearer(dsr.token))
    assert response.status_code == 404
    assert response.json()["field"] == "subject_id"


async def test_withdrawing_an_unknown_purpose_is_404(client: Client, make_key: MakeKey, conn: Connection) -> None:
    dsr = await make_key(Scope.DSR)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))
    subject_id = recorded.json()["subject_id"]
    response = await client.delete(f"/v1/subjects/{subject_id}/consents/telepathy", headers=bearer(dsr.token))
    assert response.status_code == 404
    assert response.json()["field"] == "purpose"
    assert await stored(conn) == (2, 2)


async def test_withdrawing_an_exempt_purpose_is_refused_naming_the_purpose(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    dsr = await make_key(Scope.DSR)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))
    subject_id = recorded.json()["subject_id"]
    response = await client.delete(f"/v1/subjects/{subject_id}/consents/strictly_necessary", headers=bearer(dsr.token))
    assert response.status_code == 422
    assert await stored(conn) == (2, 2)
    assert response.json()["field"] == "purpose"


async def test_a_check_key_may_not_withdraw(client: Client, make_key: MakeKey) -> None:
    checker = await make_key(Scope.CHECK)
    response = await client.delete(f"/v1/subjects/{uuid7()}/consents/analytics", headers=bearer(checker.token))
    assert response.status_code == 403


# --- reading a subject's consents ----------------------------------------------------------------


@pytest.mark.parametrize("scope", [Scope.CHECK, Scope.DSR, Scope.ADMIN])
async def test_a_subjects_current_consent_per_purpose(client: Client, make_key: MakeKey, scope: Scope) -> None:
    recorder, reader = await make_key(Scope.DSR), await make_key(scope)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(recorder.token))
    subject_id = recorded.json()["subject_id"]
    response = await client.get(f"/v1/subjects/{subject_id}/consents", headers=bearer(reader.token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject_id"] == subject_id
    assert body["jurisdiction"] == "gdpr"
    assert body["history"] is None
    by_purpose = {c["purpose"]: c for c in body["consents"]}
    assert set(by_purpose) == {"analytics", "marketing_email"}
    assert by_purpose["analytics"]["status"] == "granted"
    assert by_purpose["analytics"]["notice_version"] == 2
    assert by_purpose["analytics"]["decision"]["reason"] == "granted"
    assert by_purpose["marketing_email"]["decision"] == {"allowed": False, "reason": "denied", "expires_at": None}


async def test_a_subjects_history_lists_every_event_in_order_and_is_audited(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    dsr = await make_key(Scope.DSR)
    first = await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))
    subject_id = first.json()["subject_id"]
    second = await client.delete(f"/v1/subjects/{subject_id}/consents/analytics", headers=bearer(dsr.token))
    response = await client.get(f"/v1/subjects/{subject_id}/consents?history=true", headers=bearer(dsr.token))
    assert response.status_code == 200
    history = response.json()["history"]
    ids = [e["id"] for e in history]
    assert set(ids[:2]) == set(first.json()["event_ids"])  # one request's events share their time
    assert ids[2:] == second.json()["event_ids"]
    assert history[-1]["status"] == "withdrawn"
    recorded_at = [e["recorded_at"] for e in history]
    assert recorded_at == sorted(recorded_at)
    audited = await conn.fetch(
        "SELECT actor, target FROM audit_log WHERE action = 'consent.history_read'",
    )
    assert [row["target"] for row in audited] == [{"subject_id": subject_id}]
    assert audited[0]["actor"] == dsr.key.actor


async def test_a_check_key_may_not_read_a_subjects_history(client: Client, make_key: MakeKey) -> None:
    dsr, checker = await make_key(Scope.DSR), await make_key(Scope.CHECK)
    recorded = await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))
    subject_id = recorded.json()["subject_id"]
    response = await client.get(f"/v1/subjects/{subject_id}/consents?history=true", headers=bearer(checker.token))
    assert response.status_code == 403
    assert response.json()["field"] == "history"
    assert "proof" not in response.text
    current = await client.get(f"/v1/subjects/{subject_id}/consents", headers=bearer(checker.token))
    assert current.status_code == 200  # the current state stays a check key's to read


async def test_reading_an_unknown_subjects_consents_is_404(client: Client, make_key: MakeKey) -> None:
    reader = await make_key(Scope.CHECK)
    response = await client.get(f"/v1/subjects/{uuid7()}/consents", headers=bearer(reader.token))
    assert response.status_code == 404
