"""Orders: what a request tells each recipient to do, and how the request completes on their acks.

An executed request (`execution.py`) puts one outbox message per recipient (`<type>.ordered`,
holding ids and names only) and one `request_deliveries` row naming that message, in its own
transaction. From then on the delivery service reports every change of an order message here
(`order_changed`, in the transaction that changes it): delivered (`sent`), acknowledged (by the
recipient's 2xx answer where its policy entry says `ack = "http_2xx"`, or by the ack call), or
parked as `failed`. The request completes, in the same transaction, when its work is done and
every delivery is acknowledged.

Locks are taken in one order everywhere (outbox message, then request), so an ack call and a
delivery outcome for the same message never deadlock.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import Conflict, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.delivery import Delivery, acknowledge, retry_failed
from consent.service.requests.states import RequestState
from consent.store import outbox, request_deliveries
from consent.store import requests as store
from consent.store.erasure import consented_purposes
from consent.store.outbox import OutboxRow
from consent.store.pool import Connection, Pool, transaction
from consent.store.request_deliveries import DeliveryRow
from consent.store.requests import NewRequest, RequestRow
from policies import LegalBasis, Policy

__all__ = [
    "ORDER_SUFFIX",
    "Order",
    "acknowledge_order",
    "complete_if_settled",
    "enqueue_orders",
    "order_changed",
    "recipients_for",
    "request_entry",
    "retry_order",
]

ORDER_SUFFIX = ".ordered"
_STATES = {"pending": "pending", "delivered": "sent", "acknowledged": "acknowledged", "failed": "failed"}
"""An outbox message's state, as its request delivery shows it."""


class Order(msgspec.Struct, kw_only=True, frozen=True):
    """What each recipient is told: a message of `kind` (`<type>.ordered`) holding `payload`
    (ids and names only) besides the request and subject ids."""

    kind: str
    payload: dict[str, Any]
    recipients: list[str]


def request_entry(
    actor: str, action: str, row: RequestRow | NewRequest, **detail: audit.AuditValue
) -> audit.AuditEntry:
    """The audit entry of a request's transition or step (or of its receipt, before it is written)."""
    return audit.AuditEntry(
        actor=actor,
        action=action,
        target={"request_id": str(row.id), "subject_id": str(row.subject_id)},
        detail={"type": row.type, **detail},
    )


async def recipients_for(
    conn: Connection, policy: Policy, subject_id: UUID, purposes: Collection[str] | None = None
) -> list[str]:
    """Every recipient that may hold the subject's data for one of `purposes` (all by default), so
    must hear of a change to it (GDPR Art. 19): one serving a purpose resting on consent once the
    subject granted it; one serving a purpose on any other basis (legitimate interest, contract,
    legal obligation) always, as its data reaches the recipient without a choice."""
    granted = set(await consented_purposes(conn, subject_id))
    held = {
        purpose.id
        for purpose in policy.purposes.values()
        if (purposes is None or purpose.id in purposes)
        and (purpose.legal_basis is not LegalBasis.CONSENT or purpose.id in granted)
    }
    return sorted(r.id for r in policy.recipients.values() if held.intersection(r.purposes))


async def enqueue_orders(conn: Connection, row: RequestRow, order: Order, now: datetime) -> None:
    """One message per recipient of the order, each tracked as the request's delivery to it."""
    for recipient in order.recipients:
        message = OutboxRow(
            id=uuid7(),
            recipient=recipient,
            subject_id=row.subject_id,
            kind=order.kind,
            payload={**order.payload, "request_id": str(row.id), "subject_id": str(row.subject_id)},
            created_at=now,
        )
        await store.enqueue(conn, message)
        await request_deliveries.insert_delivery(conn, row.id, recipient, event_id=message.id, at=now)


async def complete_if_settled(conn: Connection, row: RequestRow, *, actor: str, now: datetime) -> RequestRow:
    """Complete a locked request whose work is done and whose every delivery is acknowledged."""
    if row.state != RequestState.IN_PROGRESS or row.executed_at is None:
        return row
    if not await request_deliveries.all_acknowledged(conn, row.id):
        return row
    row = await store.update_request(conn, row.id, now, state=RequestState.COMPLETED, completed_at=now)
    await audit.record(conn, request_entry(actor, "request.completed", row), now=now)
    return row


async def order_changed(conn: Connection, message: outbox.DeliveryRow, actor: str) -> None:
    """The delivery service's report of an order message's new state (its `OrderHook`)."""
    if not message.kind.endswith(ORDER_SUFFIX):
        return
    now = datetime.now(UTC)
    delivery = await request_deliveries.update_delivery_of_event(
        conn, message.id, _STATES[message.state], at=now, actor=actor
    )
    if delivery is None or delivery.state != "acknowledged":
        return
    row = await store.fetch_request(conn, delivery.request_id, lock=True)
    if row is not None:
        await complete_if_settled(conn, row, actor=actor, now=now)


async def acknowledge_order(pool: Pool, request_id: UUID, recipient: str, *, actor: str) -> DeliveryRow:
    """A recipient confirms it carried out the request's order: the delivery and its message are
    acknowledged (audited), and the request completes if that was the last one."""
    now = datetime.now(UTC)
    async with transaction(pool) as conn:
        delivery = await request_deliveries.fetch_delivery(conn, request_id, recipient)
        if delivery is None:
            raise NotFound("this request has no delivery to this recipient", field="recipient")
        if delivery.event_id is not None:
            await acknowledge(conn, event_id=delivery.event_id, recipient=recipient, actor=actor)
        row = await store.fetch_request(conn, request_id, lock=True)
        assert row is not None, "a delivery belongs to a request"
        acknowledged = await request_deliveries.acknowledge_delivery(conn, request_id, recipient, at=now, actor=actor)
        assert acknowledged is not None, "the delivery was read in this transaction"
        entry = request_entry(actor, "request.delivery_acknowledged", row, recipient=recipient)
        await audit.record(conn, entry, now=now)
        await complete_if_settled(conn, row, actor=actor, now=now)
    return acknowledged


async def retry_order(pool: Pool, request_id: UUID, recipient: str, *, actor: str) -> Delivery:
    """Put the request's order to `recipient`, parked as failed, back in the queue (audited)."""
    async with transaction(pool) as conn:
        delivery = await request_deliveries.fetch_delivery(conn, request_id, recipient)
        if delivery is None or delivery.event_id is None:
            raise NotFound("this request has no order to this recipient", field="recipient")
        if delivery.state != "failed":
            raise Conflict(f"the delivery is {delivery.state}: only a failed one can be retried", field="recipient")
        return await retry_failed(
            conn, event_id=delivery.event_id, recipient=recipient, actor=actor, on_change=order_changed
        )
