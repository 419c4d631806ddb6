"""Erasure end to end: approval, legal exceptions, crypto-shredding, orders to recipients, completion on acks."""

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
    personal_rows,
    service_settings,
    shown,
    subject_with_record,
    until_executed,
    until_sent,
)
from tests.helpers import MakeKey, bearer, eventually
from tests.service.delivery.receiver import Receiver

NOTHING = {
    "subject_keys": 0,
    "personal_records": 0,
    "subject_identifiers": 0,
    "idempotency_keys": 0,
    "outbox": 0,
    "requests": 0,
    "consent_events": 0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as serving:
        yield serving


@pytest.fixture
def legal_obligation() -> bool:
    """Whether the policy keeps the tax-law retention obligation of the shop example."""
    return False


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, receiver: Receiver, legal_obligation: bool, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    return service_settings(database_url, tmp_path, receiver.url, monkeypatch, legal_obligation=legal_obligation)


@pytest.fixture
async def dsr(make_key: MakeKey) -> str:
    return (await make_key(Scope.DSR)).token


@pytest.fixture
async def served(settings: Settings, conn: Connection) -> AsyncIterator[tuple[Client, Connection]]:
    """The API, and a connection of the test's own to look at the database with."""
    async with AsyncTestClient[Litestar](app=create_app(settings)) as client:
        yield client, conn


async def erase(client: Client, dsr: str) -> dict[str, object]:
    filed = await file_request(client, dsr, "erasure")
    assert filed["state"] == "verified"  # the shop's policy asks a person to approve erasures
    approved = await client.post(f"/v1/requests/{filed['id']}/approve", headers=bearer(dsr))
    assert approved.json()["state"] == "in_progress", approved.text
    return await until_executed(client, dsr, str(filed["id"]))


async def test_an_erasure_leaves_nothing_personal_readable_and_completes_only_once_every_order_is_acknowledged(
    served: tuple[Client, Connection], dsr: str, receiver: Receiver
) -> None:
    client, conn = served
    subject_id = await subject_with_record(client, dsr)
    request = await erase(client, dsr)

    assert await personal_rows(conn, subject_id) == NOTHING
    assert await conn.fetchval("SELECT count(*) FROM erasure_tombstones WHERE subject_id = $1", subject_id)
    assert (await client.get(f"/v1/subjects/{subject_id}/record", headers=bearer(dsr))).status_code == 409
    lookup = await client.post("/v1/subjects/lookup", json={"email": RECORD["email"]}, headers=bearer(dsr))
    assert lookup.status_code == 404
    history = await conn.fetchval("SELECT count(*) FROM consent_events WHERE subject_id = $1", subject_id)
    assert history == 3  # the consent history stays, as pseudonymous proof
    outcome = request["outcome"]
    assert isinstance(outcome, dict)
    assert outcome["crypto_shredded"] is True
    assert outcome["kept"] == []
    assert outcome["erased_fields"] == sorted(
        ["address", "attributes", "birth_date", "email", "name", "phone", "user_id"]
    )

    deliveries = await until_sent(client, dsr, str(request["id"]))
    # Analytics and marketing email were granted; personalisation only denied: its recipient has nothing.
    assert [d["recipient"] for d in deliveries] == ["analytics_warehouse", "mailer"]
    orders = orders_received(receiver.received, "erasure.ordered")
    assert set(orders) == {d["event_id"] for d in deliveries}
    for order in orders.values():
        assert (order["subject_id"], order["request_id"], order["keep_categories"]) == (subject_id, request["id"], [])
    assert (await shown(client, dsr, str(request["id"])))["state"] == "in_progress"

    first = await client.post(f"/v1/requests/{request['id']}/deliveries/mailer/ack", headers=bearer(dsr))
    assert first.json()["state"] == "acknowledged", first.text
    assert (await shown(client, dsr, str(request["id"])))["state"] == "in_progress"
    await client.post(f"/v1/requests/{request['id']}/deliveries/analytics_warehouse/ack", headers=bearer(dsr))
    done = await shown(client, dsr, str(request["id"]))
    assert done["state"] == "completed"
    assert (
        await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'erasure.ordered' AND state = 'acknowledged'")
        == 2
    )
    actions = [row["action"] for row in await conn.fetch(
        "SELECT action FROM audit_log WHERE target->>'request_id' = $1 ORDER BY id", request["id"]
    )]  # fmt: skip
    # Entries of one millisecond have no order among themselves: count them.
    assert [actions.count(action) for action in ("request.executed", "request.delivery_acknowledged",
                                                 "request.completed")] == [1, 2, 1]  # fmt: skip


async def test_a_legal_hold_keeps_the_categories_it_names_and_the_rest_is_erased(
    served: tuple[Client, Connection], dsr: str
) -> None:
    client, conn = served
    subject_id = await subject_with_record(client, dsr)
    held = await client.post(
        f"/v1/subjects/{subject_id}/holds",
        json={"reason": "litigation 2026-117", "data_categories": ["order"]},
        headers=bearer(dsr),
    )
    assert held.status_code == 201, held.text
    request = await erase(client, dsr)

    outcome = request["outcome"]
    assert isinstance(outcome, dict)
    assert outcome["crypto_shredded"] is False
    assert outcome["kept"] == [
        {"category": "order", "reason": "legal_hold", "basis": held.json()["id"], "fields": ["address", "name"]}
    ]
    record = (await client.get(f"/v1/subjects/{subject_id}/record", headers=bearer(dsr))).json()
    assert (record["name"], record["address"]) == (RECORD["name"], RECORD["address"])
    assert (record["email"], record["phone"], record["user_id"], record["birth_date"]) == (None, None, None, None)
    assert record["attributes"] == {}
    rows = await personal_rows(conn, subject_id)
    assert rows == {**NOTHING, "subject_keys": 1, "personal_records": 2}  # the identifiers went with their fields
    # Recorded for a replay into a restored backup, which would bring the erased fields back.
    recorded = await conn.fetch("SELECT kept_fields FROM partial_erasures WHERE subject_id = $1", subject_id)
    assert [row["kept_fields"] for row in recorded] == [["address", "name"]]
    deliveries = await until_sent(client, dsr, str(request["id"]))
    assert {d["recipient"] for d in deliveries} == {"analytics_warehouse", "mailer"}


@pytest.mark.parametrize("legal_obligation", [True])
async def test_a_retention_obligation_of_the_policy_is_kept_and_recorded_with_its_reason(
    served: tuple[Client, Connection], dsr: str, receiver: Receiver
) -> None:
    client, conn = served
    await subject_with_record(client, dsr)
    request = await erase(client, dsr)
    outcome = request["outcome"]
    assert isinstance(outcome, dict)
    assert outcome["kept"] == [
        {
            "category": "order",
            "reason": "legal_obligation",
            "basis": "Corporation Tax Act Art. 126: books and records kept seven years",
            "fields": ["address", "name"],
        }
    ]
    await until_sent(client, dsr, str(request["id"]))
    orders = orders_received(receiver.received, "erasure.ordered")
    assert {tuple(order["keep_categories"]) for order in orders.values()} == {("order",)}
    detail = await conn.fetchval(
        "SELECT detail FROM audit_log WHERE action = 'request.executed' AND target->>'request_id' = $1", request["id"]
    )
    assert detail["kept_fields"] == ["address", "name"]
    assert str(RECORD["name"]) not in str(detail)


async def test_a_recipient_down_then_up_receives_each_order_and_every_retry_carries_the_same_event_id(
    served: tuple[Client, Connection], dsr: str, receiver: Receiver
) -> None:
    client, _ = served
    await subject_with_record(client, dsr)
    receiver.status = 503

    def attempts() -> int:
        return sum(1 for r in receiver.received if b"erasure.ordered" in r.body)

    request = await erase(client, dsr)
    await eventually(lambda: attempts() >= 4)  # two recipients, refused at least twice each on average
    assert (await shown(client, dsr, str(request["id"])))["state"] == "in_progress"
    receiver.status = 200
    deliveries = await until_sent(client, dsr, str(request["id"]))

    event_ids = {r.headers["consent-event-id"] for r in receiver.received if b"erasure.ordered" in r.body}
    assert event_ids == {d["event_id"] for d in deliveries}
    assert attempts() > len(event_ids)
    for delivery in deliveries:
        await client.post(f"/v1/requests/{request['id']}/deliveries/{delivery['recipient']}/ack", headers=bearer(dsr))
    assert (await shown(client, dsr, str(request["id"])))["state"] == "completed"
