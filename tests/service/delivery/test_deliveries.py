"""Webhook delivery against a real receiver on 127.0.0.1: signatures, retries, parking, acks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest

from consent.errors import Conflict, NotFound
from consent.ids import uuid7
from consent.runtime import Runtime
from consent.service.delivery import Deliveries, RecipientSecrets, acknowledge, retry_failed
from consent.store import outbox
from consent.store.consent_batch import BatchRows, write_batch
from consent.store.outbox import OutboxRow
from consent.store.pool import transaction
from crypto import verify_webhook
from policies import Policy
from tests.helpers import grant_analytics
from tests.service.delivery.receiver import Receiver

SECRET = "whsec_analytics_test"
RECIPIENT = "analytics_warehouse"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as serving:
        yield serving


def policy_towards(runtime: Runtime, url: str, **changes: Any) -> Policy:
    """The active policy with the analytics warehouse's webhook at `url`."""
    policy = runtime.policy.current.policy
    recipient = msgspec.structs.replace(policy.recipients[RECIPIENT], webhook_url=url, **changes)
    return msgspec.structs.replace(policy, recipients={**policy.recipients, RECIPIENT: recipient})


@pytest.fixture
async def make_deliveries(runtime: Runtime) -> AsyncIterator[Any]:
    made: list[Deliveries] = []

    def make(policy: Policy, *, max_attempts: int = 5, timeout: float = 2.0) -> Deliveries:
        deliveries = Deliveries(
            runtime.pool,
            lambda: policy,
            RecipientSecrets({"CONSENT_RECIPIENT_ANALYTICS_SECRET": SECRET}),
            worker="test-deliverer",
            batch=8,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=0.001,
            backoff_cap=0.001,
        )
        made.append(deliveries)
        return deliveries

    yield make
    for deliveries in made:
        await deliveries.close()


async def deliver_until(deliveries: Deliveries, runtime: Runtime, state: str, *, rounds: int = 200) -> None:
    for _ in range(rounds):
        await deliveries.deliver_due()
        if await runtime.pool.fetchval("SELECT bool_and(state = $1) FROM outbox", state):
            return
    raise AssertionError(f"outbox not all {state}")


async def audit_actions(runtime: Runtime) -> list[str]:
    return [row["action"] for row in await runtime.pool.fetch("SELECT action FROM audit_log ORDER BY id")]


async def test_a_recipient_down_for_a_while_then_up_gets_each_change_once_with_the_same_event_id(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    subject_id = (await grant_analytics(runtime)).subject_id
    deliveries = make_deliveries(policy_towards(runtime, receiver.url))
    receiver.status = 503
    for _ in range(500):
        if len(receiver.received) >= 3:
            break
        await deliveries.deliver_due()
    receiver.status = 200
    await deliver_until(deliveries, runtime, "acknowledged")

    assert len(receiver.received) == 4
    event_ids = {request.headers["consent-event-id"] for request in receiver.received}
    [event_id] = event_ids
    for request in receiver.received:
        assert verify_webhook(SECRET.encode(), request.headers["consent-timestamp"], request.body,
                              request.headers["consent-signature"])  # fmt: skip
        assert request.headers["content-type"] == "application/json"
    bodies = {request.body for request in receiver.received}
    assert len(bodies) == 1  # the same bytes on every retry
    body = msgspec.json.decode(receiver.received[-1].body)
    assert body["event_id"] == event_id
    assert body["type"] == "consent.changed"
    assert body["subject_id"] == str(subject_id)
    assert [(c["purpose"], c["status"]) for c in body["changes"]] == [("analytics", "granted")]
    row = await runtime.pool.fetchrow("SELECT attempts, delivered_at, acknowledged_at, last_error FROM outbox")
    assert row is not None
    assert row["attempts"] == 4
    assert row["acknowledged_at"] is not None
    assert row["last_error"] is None
    assert (await audit_actions(runtime)).count("delivery.acknowledged") == 1


async def test_a_signature_with_another_secret_does_not_verify(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    await grant_analytics(runtime)
    await make_deliveries(policy_towards(runtime, receiver.url)).deliver_due()
    [request] = receiver.received
    headers = request.headers
    assert not verify_webhook(b"another", headers["consent-timestamp"], request.body, headers["consent-signature"])


async def test_retries_run_out_then_the_delivery_is_parked_until_a_human_retries_it(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    await grant_analytics(runtime)
    deliveries = make_deliveries(policy_towards(runtime, receiver.url), max_attempts=2)
    receiver.status = 500
    await deliver_until(deliveries, runtime, "failed")
    assert len(receiver.received) == 2
    row = await runtime.pool.fetchrow("SELECT id, last_error FROM outbox")
    assert row is not None
    assert row["last_error"] == "HTTP 500"
    assert await deliveries.deliver_due() == 0  # parked: nothing due
    assert "delivery.failed" in await audit_actions(runtime)

    receiver.status = 200
    retried = await retry_failed(runtime.pool, event_id=row["id"], recipient=RECIPIENT, actor="key:compliance")
    assert (retried.state, retried.attempts) == ("pending", 0)
    await deliver_until(deliveries, runtime, "acknowledged")
    assert len({r.headers["consent-event-id"] for r in receiver.received}) == 1
    assert "delivery.retried" in await audit_actions(runtime)
    with pytest.raises(Conflict):
        await retry_failed(runtime.pool, event_id=row["id"], recipient=RECIPIENT, actor="key:compliance")


async def order(runtime: Runtime, subject_id: UUID) -> UUID:
    """An erasure order to the analytics warehouse, as the request workflow will write it."""
    message_id = uuid7()
    message = OutboxRow(
        id=message_id, recipient=RECIPIENT, subject_id=subject_id, kind="erasure.ordered",
        payload={"subject_id": str(subject_id), "purposes": ["analytics"]}, created_at=datetime.now(UTC),
    )  # fmt: skip
    async with transaction(runtime.pool) as conn:
        await write_batch(conn, BatchRows(events=(), states=(), facts=(), audit=(), outbox=[message]))
    return message_id


async def test_an_order_stays_open_after_delivery_until_the_recipient_acknowledges_it(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    subject_id = (await grant_analytics(runtime)).subject_id
    await runtime.pool.execute("DELETE FROM outbox")
    event_id = await order(runtime, subject_id)
    deliveries = make_deliveries(policy_towards(runtime, receiver.url))
    await deliver_until(deliveries, runtime, "delivered")
    assert msgspec.json.decode(receiver.received[0].body)["type"] == "erasure.ordered"
    assert await deliveries.deliver_due() == 0  # delivered: not posted again

    acked = await acknowledge(runtime.pool, event_id=event_id, recipient=RECIPIENT, actor="key:analytics")
    assert acked.state == "acknowledged"
    assert acked.acknowledged_at is not None
    again = await acknowledge(runtime.pool, event_id=event_id, recipient=RECIPIENT, actor="key:analytics")
    assert again == acked
    actions = await audit_actions(runtime)
    assert actions.count("delivery.delivered") == 1
    assert actions.count("delivery.acknowledged") == 1
    with pytest.raises(NotFound):
        await acknowledge(runtime.pool, event_id=event_id, recipient="mailer", actor="key:analytics")
    with pytest.raises(NotFound):
        await acknowledge(runtime.pool, event_id=uuid7(), recipient=RECIPIENT, actor="key:analytics")


async def test_an_order_is_acknowledged_by_a_2xx_answer_where_the_policy_says_so(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    subject_id = (await grant_analytics(runtime)).subject_id
    await runtime.pool.execute("DELETE FROM outbox")
    await order(runtime, subject_id)
    deliveries = make_deliveries(policy_towards(runtime, receiver.url, ack="http_2xx"))
    await deliver_until(deliveries, runtime, "acknowledged")


async def test_recipients_without_a_secret_are_left_pending(runtime: Runtime, receiver: Receiver) -> None:
    await grant_analytics(runtime)
    deliveries = Deliveries(
        runtime.pool, lambda: policy_towards(runtime, receiver.url), RecipientSecrets({}), worker="w", batch=8,
        timeout=1.0, max_attempts=3, backoff_base=0.001, backoff_cap=0.001,
    )  # fmt: skip
    try:
        assert await deliveries.deliver_due() == 0
    finally:
        await deliveries.close()
    assert receiver.received == []
    assert await runtime.pool.fetchval("SELECT state FROM outbox") == "pending"


async def test_two_deliverers_post_each_message_once(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    for n in range(20):
        await grant_analytics(runtime, f"d_{n:0>22}")
    policy = policy_towards(runtime, receiver.url)
    first, second = make_deliveries(policy), make_deliveries(policy)
    for _ in itertools.repeat(None, 10):
        await first.deliver_due()
        await second.deliver_due()
    ids = [request.headers["consent-event-id"] for request in receiver.received]
    assert len(ids) == len(set(ids)) == 20


async def test_a_recipient_that_does_not_answer_in_time_is_retried(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    await grant_analytics(runtime)
    deliveries = make_deliveries(policy_towards(runtime, receiver.url), timeout=0.2)
    receiver.delay = 1.0
    assert await deliveries.deliver_due() == 1
    assert await runtime.pool.fetchval("SELECT last_error FROM outbox") == "timed out"
    receiver.delay = 0.0
    await deliver_until(deliveries, runtime, "acknowledged")


async def test_a_message_leased_by_a_deliverer_that_died_is_delivered_by_another_when_the_lease_lapses(
    runtime: Runtime, receiver: Receiver, make_deliveries: Any
) -> None:
    await grant_analytics(runtime)
    [held] = await outbox.lease_due(
        runtime.pool, recipients=[RECIPIENT], worker="dead", limit=1, lease_for=timedelta(seconds=0.3)
    )
    deliveries = make_deliveries(policy_towards(runtime, receiver.url))
    assert await deliveries.deliver_due() == 0  # still leased
    await asyncio.sleep(0.35)
    await deliver_until(deliveries, runtime, "acknowledged")
    assert [r.headers["consent-event-id"] for r in receiver.received] == [str(held.id)]
    async with transaction(runtime.pool) as conn:  # the dead deliverer coming back changes nothing
        assert await outbox.mark_delivered(conn, held.id, worker="dead", acknowledged=True) is None
