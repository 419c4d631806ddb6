"""Delivering due outbox messages, recording each outcome, and the acknowledgement calls.

A message is leased (`consent.store.outbox.lease_due`), posted, and its outcome recorded in one
transaction with its audit entry: a 2xx answer makes it `delivered`, or `acknowledged` when that
answer is the acknowledgement (always for a consent change; for an order when the recipient's
policy entry says `ack = "http_2xx"`); anything else, or no answer within the timeout, makes it
due again after a backoff, until its last attempt parks it as `failed`. Every retry carries the
same event id and body, so a recipient that was down sees each message once after
de-duplicating on the id.

Whoever tracks orders (the request workflow) passes an `OrderHook`: it is called, in the same
transaction, with every message whose state changed (delivered, acknowledged, failed, retried).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import msgspec

from consent.backoff import backoff_seconds
from consent.errors import Conflict, NotFound
from consent.service import audit
from consent.service.delivery.secrets import RecipientSecrets
from consent.service.delivery.webhooks import webhook_request
from consent.store import outbox
from consent.store.notifications import notify
from consent.store.outbox import OUTBOX_CHANNEL, DeliveryRow
from consent.store.pool import Connection, DatabaseError, DatabaseUnavailable, Pool, transaction
from policies import Policy, Recipient

__all__ = ["Deliveries", "Delivery", "OrderHook", "acknowledge", "retry_failed"]

log = logging.getLogger(__name__)

ACTOR = "system:delivery"
CONSENT_CHANGED = "consent.changed"
# Notices rather than orders: the recipient has nothing to confirm beyond receiving them.
SETTLED_BY_ANSWER = frozenset({CONSENT_CHANGED, "verification.code"})

OrderHook = Callable[[Connection, DeliveryRow, str], Awaitable[None]]
"""Told of a message's new state, with the actor that changed it, in the transaction that did."""


async def _no_hook(_conn: Connection, _row: DeliveryRow, _actor: str) -> None:
    return None


class Delivery(msgspec.Struct, kw_only=True, frozen=True):
    """One message to one recipient and where it stands."""

    event_id: UUID
    recipient: str
    subject_id: UUID
    kind: str
    state: str
    """`pending`, `delivered` (awaiting acknowledgement), `acknowledged` or `failed`."""
    attempts: int
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    last_error: str | None


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        event_id=row.id,
        recipient=row.recipient,
        subject_id=row.subject_id,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        delivered_at=row.delivered_at,
        acknowledged_at=row.acknowledged_at,
        last_error=row.last_error,
    )


def _entry(actor: str, action: str, row: DeliveryRow, **detail: audit.AuditValue) -> audit.AuditEntry:
    return audit.AuditEntry(
        actor=actor,
        action=action,
        target={"event_id": str(row.id), "recipient": row.recipient, "subject_id": str(row.subject_id)},
        detail={"kind": row.kind, "attempts": row.attempts, **detail},
    )


def acknowledged_by_answer(kind: str, recipient: Recipient) -> bool:
    """Whether a 2xx answer to a message of `kind` is its acknowledgement."""
    return kind in SETTLED_BY_ANSWER or recipient.ack == "http_2xx"


class Deliveries:
    """Posts due outbox messages, `batch` at a time, for the recipients that have a secret."""

    def __init__(
        self,
        pool: Pool,
        policy: Callable[[], Policy],
        secrets: RecipientSecrets,
        *,
        worker: str,
        batch: int,
        timeout: float,
        max_attempts: int,
        backoff_base: float,
        backoff_cap: float,
        draw: Callable[[], float] = random.random,
        on_change: OrderHook = _no_hook,
    ) -> None:
        self._pool = pool
        self._on_change = on_change
        self._policy = policy
        self._secrets = secrets
        self._worker = worker
        self.batch = batch
        self._timeout = timeout
        # Longer than any attempt can take, so an outcome is always recorded under the lease.
        self._lease = timedelta(seconds=2 * timeout + 30)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._draw = draw
        self._warned: set[str] = set()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver_due(self) -> int:
        """Lease up to `batch` due messages, post them concurrently, record each outcome; how many."""
        policy = self._policy()
        recipients = self._secrets.deliverable(policy)
        self._warn_once_about(policy.recipients.keys() - recipients)
        if not recipients:
            return 0
        due = await outbox.lease_due(
            self._pool, recipients=recipients, worker=self._worker, limit=self.batch, lease_for=self._lease
        )
        await asyncio.gather(*(self._deliver(message, policy) for message in due))
        return len(due)

    def _warn_once_about(self, without_secret: set[str]) -> None:
        """A recipient added by a policy applied while running may lack its secret: say so, once."""
        for recipient in sorted(without_secret - self._warned):
            log.warning("recipient %s has no webhook secret: its messages stay pending", recipient)
        self._warned |= without_secret

    async def _deliver(self, message: DeliveryRow, policy: Policy) -> None:
        recipient = policy.recipients.get(message.recipient)
        secret = None if recipient is None else self._secrets.secret_for(recipient)
        if recipient is None or secret is None:
            await self._settle(message, recipient, "recipient no longer in the policy or without a secret")
            return
        request = webhook_request(message, secret, datetime.now(UTC))
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._client.post(recipient.webhook_url, content=request.body, headers=request.headers)
        except TimeoutError:
            error: str | None = "timed out"
        except httpx.HTTPError as exc:
            error = f"no answer ({type(exc).__name__})"  # the type only: messages may quote the URL
        else:
            error = None if answer.is_success else f"HTTP {answer.status_code}"
        await self._settle(message, recipient, error)

    async def _settle(self, message: DeliveryRow, recipient: Recipient | None, error: str | None) -> None:
        try:
            async with transaction(self._pool) as conn:
                await self._record_outcome(conn, message, recipient, error)
        except (OSError, DatabaseError, DatabaseUnavailable):
            log.exception("could not record a delivery outcome; the message is retried when its lease lapses")

    async def _record_outcome(
        self, conn: Connection, message: DeliveryRow, recipient: Recipient | None, error: str | None
    ) -> None:
        if error is None and recipient is not None:
            acknowledged = acknowledged_by_answer(message.kind, recipient)
            row = await outbox.mark_delivered(conn, message.id, worker=self._worker, acknowledged=acknowledged)
            if row is not None:
                action = "delivery.acknowledged" if acknowledged else "delivery.delivered"
                await audit.record(conn, _entry(ACTOR, action, row, by="http_2xx"))
                await self._on_change(conn, row, ACTOR)
            return
        delay = backoff_seconds(message.attempts, base=self._backoff_base, cap=self._backoff_cap, draw=self._draw())
        row = await outbox.mark_failed_attempt(
            conn,
            message.id,
            worker=self._worker,
            error=error or "not delivered",
            retry_in=timedelta(seconds=delay),
            max_attempts=self._max_attempts,
        )
        if row is not None and row.state == "failed":
            await audit.record(conn, _entry(ACTOR, "delivery.failed", row, error=row.last_error))
            await self._on_change(conn, row, ACTOR)
            log.error("delivery %s to %s parked after %d attempts: %s", row.id, row.recipient, row.attempts, error)
        elif row is not None:
            log.warning("delivery %s to %s failed (%s); retrying in %.1fs", row.id, row.recipient, error, delay)


async def acknowledge(
    conn: Connection | Pool, *, event_id: UUID, recipient: str, actor: str, on_change: OrderHook = _no_hook
) -> Delivery:
    """The recipient confirms it acted on the message (audited). Acknowledging twice is harmless.

    NotFound when no message with `event_id` went to `recipient`.
    """
    async with transaction(conn) as tx:
        row = await outbox.acknowledge(tx, event_id, recipient=recipient)
        if row is None:
            return _delivery(await _existing(tx, event_id, recipient))
        await audit.record(tx, _entry(actor, "delivery.acknowledged", row, by="ack"))
        await on_change(tx, row, actor)
        return _delivery(row)


async def retry_failed(
    conn: Connection | Pool, *, event_id: UUID, recipient: str, actor: str, on_change: OrderHook = _no_hook
) -> Delivery:
    """Put a message parked as `failed` back in the queue with fresh attempts (audited).

    NotFound when no message with `event_id` went to `recipient`; Conflict when it is not failed.
    """
    async with transaction(conn) as tx:
        row = await outbox.retry(tx, event_id, recipient=recipient)
        if row is None:
            existing = await _existing(tx, event_id, recipient)
            raise Conflict(f"the delivery is {existing.state}: only a failed one can be retried", field="event_id")
        await audit.record(tx, _entry(actor, "delivery.retried", row))
        await on_change(tx, row, actor)
        await notify(tx, OUTBOX_CHANNEL, recipient)
        return _delivery(row)


async def _existing(conn: Connection, event_id: UUID, recipient: str) -> DeliveryRow:
    row = await outbox.fetch(conn, event_id)
    if row is None or row.recipient != recipient:
        raise NotFound("no delivery with this event id to this recipient", field="event_id")
    return row
