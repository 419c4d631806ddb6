"""Housekeeping: consents past their lifetime shown as expired, delivered work purged, all audited.

**Expiry.** The decision engine already answers `expired` for a grant older than its purpose's
`consent_lifetime_days`, at check time, whatever runs in the background. What it cannot do is tell
the followers of the change feed and the recipients, who keep copies of the choices. So for each
such grant this writes, once, an `expired` event (source `system`, action `expire`, proof naming
the grant) with its audit entry and a `consent.changed` message to each recipient serving the
purpose, all in one statement (`consent.store.consent_batch.write_batch`). The state row keeps the
grant: checks stay as they were (`expired`), and the next choice the subject makes replaces it as
any choice does. Only `consent` purposes expire this way: elsewhere a lifetime applies only where
a jurisdiction forces consent, which the engine decides per check.

**Purging.** Outbox messages acknowledged longer ago than the retention, and jobs done as long
ago, are deleted; open and failed ones always stay. Each purge that deleted something is audited.
Access exports past their lifetime lose their archive (each audited, `consent.service.exports`);
their rows go after the retention too, when a used or expired link stops answering 410.

**Retention.** Personal data past its data category's retention in the policy, and request
records past the 24 months they are kept, are deleted and audited (`consent.service.retention`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from consent.ids import BEFORE_ALL, uuid7
from consent.service import audit
from consent.service.exports import purge_exports
from consent.service.policy_versions import ActivePolicy
from consent.service.retention import delete_expired_personal_data, delete_old_request_records
from consent.store import jobs as jobs_store
from consent.store import outbox as outbox_store
from consent.store.consent_batch import BatchRows, write_batch
from consent.store.consent_events import ConsentEventRow
from consent.store.consent_expiry import ExpiringGrant, lock_expiring_grants
from consent.store.outbox import OutboxRow
from consent.store.pool import Pool, transaction
from policies import LegalBasis, Purpose

__all__ = ["ACTOR", "Housekeeping", "expire_consents", "purge_finished", "run_housekeeping"]

ACTOR = "system:housekeeping"


class Housekeeping(msgspec.Struct, kw_only=True, frozen=True):
    """What one run did."""

    expired: int
    outbox_purged: int
    jobs_purged: int
    personal_fields_deleted: int
    requests_deleted: int
    exports_purged: int = 0


async def expire_consents(pool: Pool, active: ActivePolicy, *, now: datetime, batch: int = 500) -> int:
    """Write an `expired` event for every current grant past its lifetime; how many were written."""
    total = 0
    for purpose in active.policy.purposes.values():
        lifetime = purpose.consent_lifetime_days
        if purpose.legal_basis is not LegalBasis.CONSENT or lifetime is None:
            continue
        cutoff = now - timedelta(days=lifetime)
        after = BEFORE_ALL
        while True:
            async with transaction(pool) as conn:
                grants = await lock_expiring_grants(
                    conn, purpose=purpose.id, granted_before=cutoff, limit=batch, after=after
                )
                if grants:
                    await write_batch(conn, _expiry_rows(active, purpose, grants, now))
            total += len(grants)
            if len(grants) < batch:
                break
            after = grants[-1].subject_id
    return total


def _expiry_rows(active: ActivePolicy, purpose: Purpose, grants: list[ExpiringGrant], now: datetime) -> BatchRows:
    lifetime = purpose.consent_lifetime_days
    assert lifetime is not None, "only purposes with a lifetime expire"
    events = [
        ConsentEventRow(
            subject_id=grant.subject_id,
            id=grant.expired_event_id,
            purpose=purpose.id,
            status="expired",
            action="expire",
            source="system",
            jurisdiction=grant.jurisdiction,
            language=None,
            property=grant.property,
            notice_version=grant.notice_version,
            policy_version=active.version,
            gpc=False,
            client_at=None,
            recorded_at=now,
            receipt_id=None,
            proof={
                "grant_event_id": str(grant.grant_event_id),
                "lifetime_days": lifetime,
                "expired_at": (grant.recorded_at + timedelta(days=lifetime)).isoformat(),
            },
        )
        for grant in grants
    ]
    entries = [
        audit.subject_action(ACTOR, "consent.expired", event.subject_id, purpose=purpose.id, event_id=str(event.id))
        for event in events
    ]
    recipients = [r.id for r in active.policy.recipients.values() if purpose.id in r.purposes]
    messages = [_message(active, event, recipient, now) for event in events for recipient in recipients]
    return BatchRows(events=events, states=(), facts=(), audit=audit.entry_rows(entries, now), outbox=messages)


def _message(active: ActivePolicy, event: ConsentEventRow, recipient: str, now: datetime) -> OutboxRow:
    """The same `consent.changed` message a recording sends (`recording.prepare._outbox`)."""
    change = {
        "event_id": str(event.id),
        "purpose": event.purpose,
        "status": event.status,
        "recorded_at": now.isoformat(),
    }
    payload = {
        "type": "consent.changed",
        "subject_id": str(event.subject_id),
        "policy_version": active.version,
        "changes": [change],
    }
    return OutboxRow(
        id=uuid7(), recipient=recipient, subject_id=event.subject_id, kind="consent.changed", payload=payload,
        created_at=now,
    )  # fmt: skip


async def purge_finished(pool: Pool, *, now: datetime, retention: timedelta, batch: int = 10_000) -> tuple[int, int]:
    """Delete acknowledged outbox messages and done jobs older than `retention`: (messages, jobs).

    In transactions of up to `batch` rows of each, each audited: after a long backlog (a recipient
    that acknowledged a million messages at once), no single transaction holds millions of rows,
    which would bloat the WAL at once and hold back a replica."""
    before = now - retention
    total_messages = total_jobs = 0
    while True:
        async with transaction(pool) as conn:
            messages = await outbox_store.purge_acknowledged(conn, acknowledged_before=before, limit=batch)
            jobs = await jobs_store.purge_done(conn, finished_before=before, limit=batch)
            if messages or jobs:
                detail: dict[str, audit.AuditValue] = {"outbox": messages, "jobs": jobs, "before": before.isoformat()}
                await audit.record(
                    conn, audit.AuditEntry(actor=ACTOR, action="housekeeping.purged", detail=detail), now=now
                )
        total_messages, total_jobs = total_messages + messages, total_jobs + jobs
        if messages < batch and jobs < batch:
            return total_messages, total_jobs


async def run_housekeeping(pool: Pool, active: ActivePolicy, *, now: datetime, retention: timedelta) -> Housekeeping:
    """One run: expire, purge, then apply the retention of personal data and of request records."""
    expired = await expire_consents(pool, active, now=now)
    messages, jobs = await purge_finished(pool, now=now, retention=retention)
    exports, _ = await purge_exports(pool, now=now, keep_rows_for=retention)
    fields = await delete_expired_personal_data(pool, active.policy, now=now, actor=ACTOR)
    requests = await delete_old_request_records(pool, now=now, actor=ACTOR)
    return Housekeeping(
        expired=expired,
        outbox_purged=messages,
        jobs_purged=jobs,
        exports_purged=exports,
        personal_fields_deleted=fields,
        requests_deleted=requests,
    )
