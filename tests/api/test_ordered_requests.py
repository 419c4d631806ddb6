"""Requests ordered on to recipients, end to end: a rectification (the corrections applied, then ordered
on), an objection and a restriction (applied at once, ordered to the recipients concerned, completed on
their acknowledgements); and legal holds placed and released."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api.app import create_app
from consent.config import Settings
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.api.dsr_service import (
    RECORD,
    Client,
    file_request,
    orders_received,
    service_settings,
    shown,
    subject_with_record,
    until_executed,
    until_sent,
)
from tests.helpers import MakeKey, bearer
from tests.service.delivery.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as serving:
        yield serving


@pytest.fixture
def settings(database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return service_settings(database_url, tmp_path, receiver.url, monkeypatch, legal_obligation=True)


@pytest.fixture
async def dsr(make_key: MakeKey) -> str:
    return (await make_key(Scope.DSR)).token


@pytest.fixture
async def check(make_key: MakeKey) -> str:
    return (await make_key(Scope.CHECK)).token


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient[Litestar](app=create_app(settings)) as test_client:
        yield test_client


async def test_a_rectification_is_applied_to_the_record_and_ordered_to_the_recipients_without_values(
    client: Client, dsr: str, receiver: Receiver, conn: Connection
) -> None:
    subject_id = await subject_with_record(client, dsr)
    corrections = {"name": "Hanako Sato", "email": "hanako.sato@example.jp", "phone": "", "attributes.tier": "vip"}
    filed = await file_request(client, dsr, "rectification", corrections=corrections)
    request = await until_executed(client, dsr, filed["id"])
    assert request["outcome"] == {"applied": True, "fields": sorted(corrections)}

    record = (await client.get(f"/v1/subjects/{subject_id}/record", headers=bearer(dsr))).json()
    assert (record["name"], record["email"], record["phone"]) == ("Hanako Sato", "hanako.sato@example.jp", None)
    assert record["attributes"] == {"loyalty": "gold", "tier": "vip"}
    assert (record["address"], record["user_id"]) == (RECORD["address"], RECORD["user_id"])
    found = await client.post("/v1/subjects/lookup", json={"email": "hanako.sato@example.jp"}, headers=bearer(dsr))
    assert found.json()["subject_id"] == subject_id  # the identifier follows the corrected email

    deliveries = await until_sent(client, dsr, filed["id"])
    orders = orders_received(receiver.received, "rectification.ordered")
    assert set(orders) == {d["event_id"] for d in deliveries}
    for order in orders.values():
        assert order["fields"] == sorted(corrections)
        assert "Sato" not in str(order)
    for delivery in deliveries:
        await client.post(f"/v1/requests/{filed['id']}/deliveries/{delivery['recipient']}/ack", headers=bearer(dsr))
    assert (await shown(client, dsr, filed["id"]))["state"] == "completed"
    assert await conn.fetchval("SELECT corrections_ciphertext IS NOT NULL FROM requests WHERE id = $1", filed["id"])


@pytest.mark.parametrize(
    ("corrections", "field"),
    [
        ({"shoe_size": "42"}, "corrections"),  # refused by the schema: a key names a field
        ({"email": "not an email"}, "corrections.email"),
        ({"birth_date": "1 April 1990"}, "corrections.birth_date"),
    ],
)
async def test_a_correction_the_record_cannot_take_is_refused_when_filed(
    client: Client, dsr: str, corrections: dict[str, str], field: str, conn: Connection
) -> None:
    await subject_with_record(client, dsr)
    body = {"type": "rectification", "subject": {"email": RECORD["email"]}, "jurisdiction": "gdpr",
            "verification": "trusted", "corrections": corrections}  # fmt: skip
    response = await client.post("/v1/requests", json=body, headers=bearer(dsr))
    assert response.status_code == 422, response.text
    assert field in response.text
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


async def test_a_hold_is_placed_listed_and_released_with_an_audit_entry_each(
    client: Client, dsr: str, conn: Connection
) -> None:
    subject_id = await subject_with_record(client, dsr)
    holds = f"/v1/subjects/{subject_id}/holds"
    placed = await client.post(holds, json={"reason": "authority order 7"}, headers=bearer(dsr))
    assert placed.status_code == 201, placed.text
    assert placed.json()["data_categories"] == []
    listed = await client.get(holds, headers=bearer(dsr))
    assert [hold["id"] for hold in listed.json()] == [placed.json()["id"]]
    unknown = await client.post(holds, json={"reason": "x", "data_categories": ["shoes"]}, headers=bearer(dsr))
    assert unknown.status_code == 422
    assert "data_categories[0]" in unknown.text
    nobody = "01939e3c-6f28-7b00-9a00-1a2b3c4d5e6f"
    assert (
        await client.post(f"/v1/subjects/{nobody}/holds", json={"reason": "x"}, headers=bearer(dsr))
    ).status_code == 404
    released = await client.delete(f"{holds}/{placed.json()['id']}", headers=bearer(dsr))
    assert released.status_code == 204
    assert (await client.delete(f"{holds}/{placed.json()['id']}", headers=bearer(dsr))).status_code == 404
    assert (await client.get(holds, headers=bearer(dsr))).json() == []
    actions = await conn.fetch("SELECT action FROM audit_log WHERE action LIKE 'subject.hold_%'")
    assert sorted(row["action"] for row in actions) == ["subject.hold_placed", "subject.hold_released"]


async def _reason(client: Client, token: str, purpose: str) -> str:
    body = {"subject": {"email": RECORD["email"]}, "purposes": [purpose], "jurisdiction": "gdpr"}
    response = await client.post("/v1/check", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    found: str = response.json()["decisions"][purpose]["reason"]
    return found


async def test_an_objection_to_direct_marketing_is_ordered_to_the_mailer_and_completes_on_its_ack(
    client: Client, dsr: str, check: str, receiver: Receiver, conn: Connection
) -> None:
    await subject_with_record(client, dsr)  # granted analytics and marketing email
    filed = await file_request(client, dsr, "object")
    assert filed["state"] == "in_progress"
    assert await _reason(client, check, "marketing_email") == "objected"  # honoured before any recipient answers

    deliveries = await until_sent(client, dsr, filed["id"])
    assert [d["recipient"] for d in deliveries] == ["mailer"]
    [order] = orders_received(receiver.received, "object.ordered").values()
    assert order["direct_marketing"] is True
    assert "marketing_email" in order["purposes"]  # with every other direct-marketing purpose of the policy
    assert order["request_id"] == filed["id"]
    assert "hanako" not in str(order)  # ids and purpose names only

    acked = await client.post(f"/v1/requests/{filed['id']}/deliveries/mailer/ack", headers=bearer(dsr))
    assert acked.status_code == 200, acked.text
    assert (await shown(client, dsr, filed["id"]))["state"] == "completed"
    actions = await conn.fetch(
        "SELECT action FROM audit_log WHERE target->>'request_id' = $1 ORDER BY position", filed["id"]
    )
    assert [row["action"] for row in actions] == [
        "request.received",
        "request.verified",
        "request.in_progress",
        "request.delivery_acknowledged",
        "request.completed",
    ]


async def test_a_restriction_is_ordered_to_each_recipient_of_a_purpose_the_subject_granted(
    client: Client, dsr: str, receiver: Receiver
) -> None:
    await subject_with_record(client, dsr)  # personalisation denied, partner sharing never asked
    filed = await file_request(client, dsr, "restrict")
    deliveries = await until_sent(client, dsr, filed["id"])
    assert sorted(d["recipient"] for d in deliveries) == ["analytics_warehouse", "mailer"]
    orders = orders_received(receiver.received, "restrict.ordered")
    assert {d["event_id"] for d in deliveries} == set(orders)
    assert all(order["direct_marketing"] is False and "analytics" in order["purposes"] for order in orders.values())


async def test_an_objection_no_recipient_is_concerned_by_completes_at_once(client: Client, dsr: str) -> None:
    await subject_with_record(client, dsr)
    filed = await file_request(client, dsr, "object", purposes=["fraud_prevention"])  # no recipient serves it
    assert filed["state"] == "completed"
    assert (await shown(client, dsr, filed["id"]))["deliveries"] == []


async def test_a_second_objection_while_the_first_waits_for_its_recipients_is_the_same_request(
    client: Client, dsr: str
) -> None:
    await subject_with_record(client, dsr)
    first = await file_request(client, dsr, "object")
    body = {"type": "object", "subject": {"email": RECORD["email"]}, "jurisdiction": "gdpr"}
    again = await client.post("/v1/requests", json=body, headers=bearer(dsr))
    assert again.status_code == 200, again.text  # not a 500 from the one-open-request index
    assert again.json()["id"] == first["id"]
