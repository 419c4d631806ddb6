"""Background job: cover committed audit entries with signed checkpoints, shortly after commit.

Every instance runs it; a transaction-scoped advisory lock lets one seal at a
time, so the chain of checkpoints stays linear however many instances there are.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from consent.service.audit_sealing import Sealer

__all__ = ["run_audit_sealer"]

log = logging.getLogger(__name__)


async def run_audit_sealer(pool: asyncpg.Pool, sealer: Sealer, *, interval: float) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                sealed = await sealer.seal(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("audit sealing failed; retrying")
            sealed = 0
        if sealed < sealer.batch:
            await asyncio.sleep(interval)
