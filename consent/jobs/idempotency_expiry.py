"""Background job: forget Idempotency-Keys once their retention (CONSENT_IDEMPOTENCY_TTL_HOURS) is over.

A client retries within minutes; keeping the first answers longer only keeps
data around. Every instance runs the job; deleting twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from consent.store.consent_events import delete_expired_idempotency_keys
from consent.store.pool import Pool

__all__ = ["run_idempotency_expiry"]

log = logging.getLogger(__name__)


async def run_idempotency_expiry(pool: Pool, *, ttl: timedelta, interval: float = 300.0) -> None:
    while True:
        try:
            deleted = await delete_expired_idempotency_keys(pool, datetime.now(UTC) - ttl)
            if deleted:
                log.info("forgot %d expired idempotency keys", deleted)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("idempotency key expiry failed; retrying later")
        await asyncio.sleep(interval)
