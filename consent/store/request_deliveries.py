"""SQL for `request_deliveries` (migrations 0008, 0009): one row per request and recipient, the
order to that recipient and whether it acknowledged it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool

__all__ = [
    "DeliveryRow",
    "acknowledge_delivery",
    "all_acknowledged",
    "fetch_deliveries",
    "fetch_delivery",
    "insert_delivery",
    "update_delivery_of_event",
]


class DeliveryRow(msgspec.Struct, kw_only=True, frozen=True):
    request_id: UUID
    recipient: str
    state: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    event_id: UUID | None = None
    """The outbox message carrying the order (the recipient's `Consent-Event-Id`)."""


_DELIVERY_COLUMNS = ", ".join(DeliveryRow.__struct_fields__)


async def fetch_deliveries(conn: Connection | Pool, request_id: UUID) -> list[DeliveryRow]:
    records = await conn.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM request_deliveries WHERE request_id = $1 ORDER BY recipient", request_id
    )
    return [DeliveryRow(**dict(record.items())) for record in records]


async def acknowledge_delivery(
    conn: Connection, request_id: UUID, recipient: str, *, at: datetime, actor: str
) -> DeliveryRow | None:
    """Mark the delivery acknowledged (once: a repeat keeps the first time); None if there is none."""
    record = await conn.fetchrow(
        "UPDATE request_deliveries"
        " SET state = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, $3),"
        " acknowledged_by = coalesce(acknowledged_by, $4)"
        f" WHERE request_id = $1 AND recipient = $2 RETURNING {_DELIVERY_COLUMNS}",
        request_id,
        recipient,
        at,
        actor,
    )
    return None if record is None else DeliveryRow(**dict(record.items()))


async def insert_delivery(conn: Connection, request_id: UUID, recipient: str, *, event_id: UUID, at: datetime) -> None:
    """The order to `recipient`, carried by outbox message `event_id`, pending (once: a repeat is a no-op)."""
    await conn.execute(
        "INSERT INTO request_deliveries (request_id, recipient, state, created_at, event_id)"
        " VALUES ($1, $2, 'pending', $3, $4) ON CONFLICT (request_id, recipient) DO NOTHING",
        request_id,
        recipient,
        at,
        event_id,
    )


async def fetch_delivery(conn: Connection, request_id: UUID, recipient: str) -> DeliveryRow | None:
    record = await conn.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS} FROM request_deliveries WHERE request_id = $1 AND recipient = $2",
        request_id,
        recipient,
    )
    return None if record is None else DeliveryRow(**dict(record.items()))


async def update_delivery_of_event(
    conn: Connection, event_id: UUID, state: str, *, at: datetime, actor: str
) -> DeliveryRow | None:
    """Set the state of the delivery carried by `event_id` (the first acknowledgement is kept);
    None when no request's order travels in that message."""
    record = await conn.fetchrow(
        "UPDATE request_deliveries"
        " SET state = $2,"
        " acknowledged_at = CASE WHEN $2 = 'acknowledged' THEN coalesce(acknowledged_at, $3) END,"
        " acknowledged_by = CASE WHEN $2 = 'acknowledged' THEN coalesce(acknowledged_by, $4) END"
        f" WHERE event_id = $1 RETURNING {_DELIVERY_COLUMNS}",
        event_id,
        state,
        at,
        actor,
    )
    return None if record is None else DeliveryRow(**dict(record.items()))


async def all_acknowledged(conn: Connection, request_id: UUID) -> bool:
    """Whether every delivery of the request is acknowledged (True when it has none)."""
    return not await conn.fetchval(
        "SELECT true FROM request_deliveries WHERE request_id = $1 AND state <> 'acknowledged' LIMIT 1", request_id
    )
