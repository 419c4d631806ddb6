"""The `outbox`: one message per recipient, enqueued by consent writes, leased and delivered by a job.

The recording batch inserts `OutboxRow`s (`consent.store.consent_batch`); everything else here is
the delivery side, which reads `DeliveryRow`s. States: `pending` (due at `next_attempt_at`),
`delivered` (the recipient answered 2xx; an order still awaits its acknowledgement),
`acknowledged`, `failed` (retries ran out; a human puts it back). Leasing moves `next_attempt_at`
to the end of the lease, as for `jobs`, so a crashed deliverer's rows become due again by
themselves; finishing an attempt checks the deliverer still holds the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool, in_index_order

__all__ = [
    "LEASE",
    "OUTBOX_CHANNEL",
    "DeliveryRow",
    "OutboxRow",
    "acknowledge",
    "fetch",
    "lease_due",
    "mark_delivered",
    "mark_failed_attempt",
    "purge_acknowledged",
    "retry",
]

OUTBOX_CHANNEL = "consent_outbox"
"""Notified when a message is put back in the queue, so idle deliverers wake at once."""


class OutboxRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One message to a recipient, as the batch writer enqueues it (`consent.store.consent_batch`).

    Its fields are the batch's columns: the delivery columns keep their defaults (`pending`).
    """

    id: UUID
    recipient: str
    subject_id: UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime


class DeliveryRow(msgspec.Struct, kw_only=True, frozen=True):
    """One outbox row with its delivery state; `id` is the event id recipients de-duplicate on."""

    id: UUID
    recipient: str
    subject_id: UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    last_error: str | None


_RETURNING = ", ".join(f"o.{name}" for name in DeliveryRow.__struct_fields__)


def _row(record: Any) -> DeliveryRow:
    return DeliveryRow(**dict(record.items()))


LEASE = f"""
WITH due AS (
    SELECT id FROM outbox
     WHERE state = 'pending' AND next_attempt_at <= now() AND recipient = ANY($1::text[])
     ORDER BY next_attempt_at
     LIMIT $3
       FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
   SET attempts = o.attempts + 1, leased_by = $2, leased_until = now() + $4, next_attempt_at = now() + $4
  FROM due
 WHERE o.id = due.id
RETURNING {_RETURNING}
"""
"""The lease, run in `in_index_order`: the due index in order, however many messages wait (a
recipient that was down for a day may have millions)."""


async def lease_due(
    conn: Connection | Pool, *, recipients: Sequence[str], worker: str, limit: int, lease_for: timedelta
) -> list[DeliveryRow]:
    """Take up to `limit` due pending messages to `recipients` for `worker`, oldest first.

    Each lease counts as an attempt. Rows being leased by another transaction are skipped.
    """
    async with in_index_order(conn) as held:
        rows = await held.fetch(LEASE, list(recipients), worker, limit, lease_for)
    return [_row(row) for row in rows]


async def mark_delivered(conn: Connection, message_id: UUID, *, worker: str, acknowledged: bool) -> DeliveryRow | None:
    """The recipient answered 2xx: `delivered`, or `acknowledged` when that answer is the ack.

    None when `worker` no longer holds the row (its lease lapsed and another took it over).
    """
    row = await conn.fetchrow(
        f"""
        UPDATE outbox o
           SET state = CASE WHEN $3 THEN 'acknowledged' ELSE 'delivered' END,
               delivered_at = now(), acknowledged_at = CASE WHEN $3 THEN now() END,
               leased_by = NULL, leased_until = NULL, last_error = NULL
         WHERE id = $1 AND leased_by = $2 AND state = 'pending'
        RETURNING {_RETURNING}
        """,
        message_id,
        worker,
        acknowledged,
    )
    return None if row is None else _row(row)


async def mark_failed_attempt(
    conn: Connection, message_id: UUID, *, worker: str, error: str, retry_in: timedelta, max_attempts: int
) -> DeliveryRow | None:
    """An attempt failed: due again after `retry_in`, or parked as `failed` after `max_attempts`.

    None when `worker` no longer holds the row. `error` must hold no personal value.
    """
    row = await conn.fetchrow(
        f"""
        UPDATE outbox o
           SET state = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END,
               next_attempt_at = now() + $4, last_error = $3, leased_by = NULL, leased_until = NULL
         WHERE id = $1 AND leased_by = $2 AND state = 'pending'
        RETURNING {_RETURNING}
        """,
        message_id,
        worker,
        error,
        retry_in,
        max_attempts,
    )
    return None if row is None else _row(row)


async def fetch(conn: Connection | Pool, message_id: UUID) -> DeliveryRow | None:
    row = await conn.fetchrow(f"SELECT {_RETURNING} FROM outbox o WHERE id = $1", message_id)
    return None if row is None else _row(row)


async def acknowledge(conn: Connection, message_id: UUID, *, recipient: str) -> DeliveryRow | None:
    """Mark the message acknowledged (from any open state); None when it is already, or unknown.

    A pending or failed message is acknowledged too: the recipient confirms it acted on the
    event, which may have reached it even if its answer did not reach us.
    """
    row = await conn.fetchrow(
        f"""
        UPDATE outbox o
           SET state = 'acknowledged', acknowledged_at = now(), delivered_at = coalesce(delivered_at, now()),
               leased_by = NULL, leased_until = NULL
         WHERE id = $1 AND recipient = $2 AND state <> 'acknowledged'
        RETURNING {_RETURNING}
        """,
        message_id,
        recipient,
    )
    return None if row is None else _row(row)


async def retry(conn: Connection, message_id: UUID, *, recipient: str) -> DeliveryRow | None:
    """Put a failed message back, due now with fresh attempts; None when it is not failed."""
    row = await conn.fetchrow(
        f"""
        UPDATE outbox o SET state = 'pending', attempts = 0, next_attempt_at = now()
         WHERE id = $1 AND recipient = $2 AND state = 'failed'
        RETURNING {_RETURNING}
        """,
        message_id,
        recipient,
    )
    return None if row is None else _row(row)


async def purge_acknowledged(conn: Connection | Pool, *, acknowledged_before: datetime, limit: int) -> int:
    """Delete up to `limit` messages acknowledged before `acknowledged_before`, oldest first; open ones
    always stay. How many went."""
    result = await conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state = 'acknowledged'"
        " AND acknowledged_at < $1 ORDER BY acknowledged_at LIMIT $2)",
        acknowledged_before,
        limit,
    )
    return int(result.split()[-1])
