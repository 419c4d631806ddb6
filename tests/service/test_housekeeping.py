"""Housekeeping: expired consents reach the feed, the audit trail and recipients once; old rows go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from consent.jobs.housekeeping import HOUSEKEEPING
from consent.runtime import Runtime
from consent.service.housekeeping import expire_consents, purge_finished
from tests.helpers import eventually, record_through_service

ANALYTICS_LIFETIME = timedelta(days=395)  # policies/examples/shop.toml


async def record(runtime: Runtime, device: str, status: str) -> UUID:
    identifier = runtime.subjects.identifier("device_id", device)
    return (await record_through_service(runtime, identifier, {"analytics": status})).subject_id


async def test_a_grant_past_its_lifetime_expires_once_in_the_feed_the_audit_trail_and_the_outbox(
    runtime: Runtime,
) -> None:
    granted = await record(runtime, "d_old_grant-000000000000", "granted")
    await record(runtime, "d_denied-000000000000000", "denied")
    later = datetime.now(UTC) + ANALYTICS_LIFETIME + timedelta(minutes=1)
    await runtime.pool.execute("DELETE FROM outbox")

    assert await expire_consents(runtime.pool, runtime.policy.current, now=later) == 1
    assert await expire_consents(runtime.pool, runtime.policy.current, now=later) == 0

    page = await runtime.feed.page(None, limit=100, wait=0)
    expired = [change for change in page.changes if change.status == "expired"]
    assert [(c.subject_id, c.purpose, c.source, c.action) for c in expired] == [
        (granted, "analytics", "system", "expire")
    ]
    audited = await runtime.pool.fetch("SELECT target, detail FROM audit_log WHERE action = 'consent.expired'")
    assert [(row["target"]["subject_id"], row["detail"]["purpose"]) for row in audited] == [(str(granted), "analytics")]
    [message] = await runtime.pool.fetch("SELECT recipient, kind, payload FROM outbox")
    assert (message["recipient"], message["kind"]) == ("analytics_warehouse", "consent.changed")
    assert message["payload"]["changes"][0]["status"] == "expired"
    assert message["payload"]["changes"][0]["event_id"] == str(expired[0].event_id)
    # The state keeps the grant: the engine answers `expired` for it at check time.
    assert await runtime.pool.fetchval("SELECT status FROM consent_state WHERE subject_id = $1", granted) == "granted"


async def test_a_grant_within_its_lifetime_or_replaced_by_a_newer_choice_does_not_expire(runtime: Runtime) -> None:
    await record(runtime, "d_fresh-0000000000000000", "granted")
    await record(runtime, "d_changed_mind-000000000", "granted")
    await record(runtime, "d_changed_mind-000000000", "denied")
    assert await expire_consents(runtime.pool, runtime.policy.current, now=datetime.now(UTC)) == 0
    later = datetime.now(UTC) + ANALYTICS_LIFETIME + timedelta(minutes=1)
    assert await expire_consents(runtime.pool, runtime.policy.current, now=later) == 1  # d_fresh only


async def test_acknowledged_messages_past_retention_are_purged_and_open_ones_stay(runtime: Runtime) -> None:
    await record(runtime, "d_a-00000000000000000000", "granted")
    await record(runtime, "d_b-00000000000000000000", "granted")
    first = await runtime.pool.fetchval("SELECT id FROM outbox ORDER BY id LIMIT 1")
    await runtime.pool.execute(
        "UPDATE outbox SET state = 'acknowledged', acknowledged_at = now() - interval '8 days' WHERE id = $1", first
    )
    assert await purge_finished(runtime.pool, now=datetime.now(UTC), retention=timedelta(days=7)) == (1, 0)
    assert await runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'") == 1
    detail = await runtime.pool.fetchval("SELECT detail FROM audit_log WHERE action = 'housekeeping.purged'")
    assert detail["outbox"] == 1
    assert await purge_finished(runtime.pool, now=datetime.now(UTC), retention=timedelta(days=7)) == (0, 0)


async def test_a_backlog_of_acknowledged_messages_is_purged_in_audited_batches(runtime: Runtime) -> None:
    for n in range(5):
        await record(runtime, f"d_purge_{n}-0000000000000000", "granted")
    await runtime.pool.execute("UPDATE outbox SET state = 'acknowledged', acknowledged_at = now() - interval '8 days'")
    total = await runtime.pool.fetchval("SELECT count(*) FROM outbox")
    assert await purge_finished(runtime.pool, now=datetime.now(UTC), retention=timedelta(days=7), batch=2) == (
        total,
        0,
    )
    assert await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 0
    purged = await runtime.pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'housekeeping.purged' ORDER BY position"
    )
    assert [row["detail"]["outbox"] for row in purged] == [2] * (total // 2) + ([total % 2] if total % 2 else [])


async def test_the_runtime_runs_housekeeping_on_the_runner_and_schedules_the_next_period(runtime: Runtime) -> None:
    async def ran() -> bool:
        rows = await runtime.pool.fetch("SELECT state FROM jobs WHERE kind = $1", HOUSEKEEPING)
        return sorted(row["state"] for row in rows) == ["done", "pending"]

    await eventually(ran)
    upcoming = await runtime.pool.fetchval(
        "SELECT run_at FROM jobs WHERE kind = $1 AND state = 'pending'", HOUSEKEEPING
    )
    assert upcoming > datetime.now(UTC)


async def test_grants_expire_over_several_batches_each_state_row_read_once(runtime: Runtime) -> None:
    granted = {await record(runtime, f"d_batch_{n}-0000000000000000", "granted") for n in range(5)}
    later = datetime.now(UTC) + ANALYTICS_LIFETIME + timedelta(minutes=1)
    assert await expire_consents(runtime.pool, runtime.policy.current, now=later, batch=2) == 5
    assert await expire_consents(runtime.pool, runtime.policy.current, now=later, batch=2) == 0
    expired = await runtime.pool.fetch(
        "SELECT subject_id FROM consent_events WHERE status = 'expired' AND purpose = 'analytics'"
    )
    assert {row["subject_id"] for row in expired} == granted
