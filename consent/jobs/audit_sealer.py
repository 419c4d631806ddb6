"""Background job: seal committed audit entries into the hash chain, shortly after commit.

Every instance runs it; a transaction-scoped advisory lock lets one seal at a
time, so the chain stays linear however many instances there are.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from consent.service.audit import seal_pending

__all__ = ["run_audit_sealer"]

log = logging.getLogger(__name__)


async def run_audit_sealer(pool: asyncpg.Pool, *, interval: float, batch: int = 5000) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                sealed = await seal_pending(conn, batch=batch)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("audit sealing failed; retrying")
            sealed = 0
        if sealed < batch:
            await asyncio.sleep(interval)
