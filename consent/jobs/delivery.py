"""Background loop: deliver the outbox to recipients (`consent.service.delivery`).

Every instance runs it; leases (`FOR UPDATE SKIP LOCKED`) keep two instances from posting the
same message at once. It polls every `CONSENT_JOB_POLL_INTERVAL_MS` and wakes at once when a
failed message is put back (`consent_outbox`). Recording a consent adds no notification: the hot
path stays as it was, and a new message waits at most one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from consent.service.delivery import Deliveries
from consent.store.notifications import Notifications
from consent.store.outbox import OUTBOX_CHANNEL

__all__ = ["DeliveryLoop"]

log = logging.getLogger(__name__)


class DeliveryLoop:
    """Create it before the notifications start (it subscribes), then run `run()` as a task."""

    def __init__(self, deliveries: Deliveries, notifications: Notifications, *, poll_interval: float) -> None:
        self._deliveries = deliveries
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        notifications.subscribe(OUTBOX_CHANNEL, self._wake_up, on_reset=lambda: self._wake_up(""))

    def _wake_up(self, _payload: str) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delivered = await self._deliveries.deliver_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.exception("leasing deliveries failed; retrying at the next poll")
                delivered = 0
            if delivered < self._deliveries.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
