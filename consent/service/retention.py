"""Retention, enforced by housekeeping: personal data past its retention and old request records deleted.

**Personal data.** Each `[retention.<category>]` table of the policy names the personal-record
fields of its data category (`personal_fields`). A field not written for the category's
`personal_data_days` is deleted. An email, phone or user id takes its lookup identifier (blind
index and ciphertext) with it, as writing a record without that field does, and a birth date its
copy in the subject's facts, so checks stop applying the minor rules to it. The subject, its data
key, its consent history and its other fields stay. Each subject's deletion is one audit entry
naming the category and the fields, never a value. A field no table names is kept until erasure.

**Request records.** CCPA regulations §7101 ask for the record of each request and its answer for
24 months. A request completed or rejected longer ago than that is deleted: the row, with its
subject id and its encrypted note and corrections, its verification code's hash and its
deliveries. Its audit entry keeps the request id, type, jurisdiction, outcome and dates, and
names no subject. Open requests are never deleted.

Both work in batches, one transaction each, skipping rows another transaction holds, so a run
never blocks the service's writers for long and any number of instances may run it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from consent.service import audit
from consent.store import consent_state
from consent.store import requests as requests_store
from consent.store import vault as vault_store
from consent.store.pool import Connection, Pool, transaction
from consent.store.requests import ClosedRequestRow
from consent.store.vault import StaleFields
from policies import PersonalField, Policy

__all__ = ["REQUEST_RECORD_MONTHS", "delete_expired_personal_data", "delete_old_request_records"]

REQUEST_RECORD_MONTHS = 24
"""How long a closed request's record is kept (CCPA regulations §7101(a): at least 24 months)."""

# Record fields that are also lookup identifiers (consent.service.vault.personal_records).
_IDENTIFYING = frozenset({PersonalField.EMAIL, PersonalField.PHONE, PersonalField.USER_ID})


async def delete_expired_personal_data(
    pool: Pool, policy: Policy, *, now: datetime, actor: str, batch: int = 500
) -> int:
    """Delete every personal-record field past its category's retention; how many fields went."""
    total = 0
    for category, rule in sorted(policy.retention.items()):
        if not rule.personal_fields:
            continue
        fields = [field.value for field in rule.personal_fields]
        before = now - timedelta(days=rule.personal_data_days)
        while True:
            async with transaction(pool) as conn:
                gone = await vault_store.delete_stale_fields(conn, fields, written_before=before, limit=batch)
                if gone:
                    await _forget_copies(conn, gone)
                    entries = [
                        audit.subject_action(
                            actor, "personal_data.expired", stale.subject_id, category=category, fields=stale.fields
                        )
                        for stale in gone
                    ]
                    await audit.record_many(conn, entries, now=now)
            deleted = sum(len(stale.fields) for stale in gone)
            total += deleted
            if deleted < batch:
                break
    return total


async def _forget_copies(conn: Connection, gone: list[StaleFields]) -> None:
    """The lookup identifiers and the birth-date fact made from the deleted fields."""
    pairs = [(stale.subject_id, field) for stale in gone for field in stale.fields if field in _IDENTIFYING]
    if pairs:
        await vault_store.delete_identifiers_of_kinds(conn, [s for s, _ in pairs], [k for _, k in pairs])
    born = [stale.subject_id for stale in gone if PersonalField.BIRTH_DATE in stale.fields]
    if born:
        await consent_state.clear_birth_dates(conn, born)


async def delete_old_request_records(pool: Pool, *, now: datetime, actor: str, batch: int = 500) -> int:
    """Delete every request closed more than `REQUEST_RECORD_MONTHS` months before `now`; how many went."""
    total = 0
    while True:
        async with transaction(pool) as conn:
            gone = await requests_store.delete_closed_before(
                conn, before=now, months=REQUEST_RECORD_MONTHS, limit=batch
            )
            if gone:
                await audit.record_many(conn, [_deleted(actor, row) for row in gone], now=now)
        total += len(gone)
        if len(gone) < batch:
            return total


def _deleted(actor: str, row: ClosedRequestRow) -> audit.AuditEntry:
    return audit.AuditEntry(
        actor=actor,
        action="request.record_deleted",
        target={"request_id": str(row.id)},
        detail={
            "type": row.type,
            "outcome": row.state,
            "jurisdiction": row.jurisdiction,
            "received_at": row.received_at.isoformat(),
            "closed_at": row.closed_at.isoformat(),
            "kept_months": REQUEST_RECORD_MONTHS,
        },
    )
