"""Leasing from a queue costs the same however long the queue: the due index in order, no sort.
Likewise housekeeping's search for expiring grants and a key rotation walk a primary key instead of
sorting or rescanning.

After a burst of requests the job queue holds thousands of due rows, and its statistics still say
it is nearly empty; a lease planned from them collected and sorted every due row (2 to 3 ms a lease
with 5,000 waiting), and its `spent` part read them all again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from consent.store import jobs, outbox
from consent.store.consent_expiry import EXPIRING
from consent.store.pool import Connection, in_index_order
from consent.store.vault import STALE_KEYS

_BACKLOG = """
INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, max_attempts, created_at)
SELECT gen_random_uuid(), 'request.execute', 'backlog-' || n, '{}', now() - n * interval '1 ms', 10, now()
  FROM generate_series(1, 3000) AS n
"""


async def _plan(conn: Connection, statement: str, *args: object) -> str:
    async with in_index_order(conn) as held:
        rows = await held.fetch(f"EXPLAIN (COSTS OFF) {statement}", *args)
    return "\n".join(row[0] for row in rows)


async def test_a_job_lease_reads_the_due_index_in_order_and_the_spent_index(owner_conn: Connection) -> None:
    await owner_conn.execute(_BACKLOG)
    plan = await _plan(owner_conn, jobs.LEASE, ["request.execute"], "w", 4, timedelta(minutes=5))
    assert "Sort" not in plan, plan
    assert "Index Scan using jobs_due" in plan, plan
    assert "jobs_spent" in plan, plan  # the rare spent jobs have an index of their own (migration 0016)
    assert "Seq Scan" not in plan, plan


async def test_an_outbox_lease_reads_the_due_index_in_order(owner_conn: Connection) -> None:
    plan = await _plan(owner_conn, outbox.LEASE, ["crm"], "w", 4, timedelta(minutes=5))
    assert "Sort" not in plan, plan
    assert "Index Scan using outbox_due" in plan, plan


async def test_a_lease_over_a_backlog_takes_the_oldest_due_jobs_first(conn: Connection, owner_conn: Connection) -> None:
    await owner_conn.execute(_BACKLOG)
    leased = await jobs.lease(conn, kinds=["request.execute"], worker="w", limit=3, lease_for=timedelta(minutes=5))
    assert {job.dedupe_key for job in leased} == {"backlog-3000", "backlog-2999", "backlog-2998"}
    assert all(job.attempts == 1 for job in leased)


async def test_expiring_grants_are_found_by_walking_the_state_primary_key(owner_conn: Connection) -> None:
    # Ordered by age, each batch of 500 read and sorted every grant of the purpose (expired ones too:
    # their state stays `granted`), so a year's grants expiring at once cost a pass over all per batch.
    plan = await _plan(owner_conn, EXPIRING, "analytics", datetime.now(UTC), 500, UUID(int=0))
    assert "Sort" not in plan, plan
    assert "consent_state_pkey" in plan, plan


async def test_a_key_rotation_walks_the_data_keys_primary_key(owner_conn: Connection) -> None:
    # From the first key each batch, a rotation walked past every key already rewrapped: quadratic.
    plan = await _plan(owner_conn, STALE_KEYS, 2, 500, UUID(int=0))
    assert "Sort" not in plan, plan
    assert "subject_keys_pkey" in plan, plan
    assert "Index Cond: (subject_id >" in plan, plan
