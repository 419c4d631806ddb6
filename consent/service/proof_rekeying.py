"""Keying the user-agent digests that proofs stored in the clear before migration 0009.

A proof used to keep `user_agent_sha256`, which anyone with a list of user agents can reverse.
New proofs keep `user_agent_hmac` (`crypto.IndexKey.user_agent_proof`, taken over that same
SHA-256), so the old ones can be converted without the user agent: this job does it in batches,
once per start-up of the service (a no-op when nothing is left), on the job runner. Each batch is
one transaction; an interrupted run leaves whole batches converted and the next run goes on.
"""

from __future__ import annotations

from datetime import datetime

from consent.service import audit
from consent.store import consent_events
from consent.store import jobs as jobs_store
from consent.store.pool import Pool, transaction
from crypto import IndexKey

__all__ = ["REKEY_PROOFS", "rekey_user_agents", "schedule_rekeying"]

REKEY_PROOFS = "proofs.rekey"
ACTOR = "system:proofs"


async def rekey_user_agents(pool: Pool, index_key: IndexKey, *, batch: int = 1000) -> int:
    """Convert every plain user-agent digest left in proofs; how many were converted (audited)."""
    total = 0
    while True:
        async with transaction(pool) as conn:
            found = await consent_events.fetch_plain_user_agents(conn, batch)
            if found:
                subjects, events, digests = (list(column) for column in zip(*found, strict=True))
                keyed = [index_key.user_agent_proof(digest) for digest in digests]
                await consent_events.replace_plain_user_agents(conn, subjects, events, keyed)
                entry = audit.AuditEntry(actor=ACTOR, action="proofs.user_agents_keyed", detail={"events": len(found)})
                await audit.record(conn, entry)
        total += len(found)
        if len(found) < batch:
            return total


async def schedule_rekeying(pool: Pool, *, at: datetime, max_attempts: int) -> None:
    """Enqueue this start-up's run (one per day, whichever instance starts first)."""
    async with transaction(pool) as conn:
        await jobs_store.enqueue(
            conn,
            kind=REKEY_PROOFS,
            dedupe_key=f"{REKEY_PROOFS}:{at.date().isoformat()}",
            payload={},
            run_at=at,
            max_attempts=max_attempts,
        )
