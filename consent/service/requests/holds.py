"""Legal holds: a subject's data kept from erasure while litigation or an authority requires it.

A hold names the data categories it covers (none: every category) and a reason, which is kept for
the record: write a case number, not a personal value. Placing and releasing one are audited; an
erasure that meets a hold keeps what it covers and says so in its outcome (`erasure.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from consent.errors import InvalidInput, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.policy_versions import PolicyHolder
from consent.service.requests.intake import required_reason
from consent.store import holds as store
from consent.store.holds import HoldRow
from consent.store.pool import Pool, transaction

__all__ = ["HoldRow", "list_holds", "place_hold", "release_hold"]


async def place_hold(
    pool: Pool, policy: PolicyHolder, subject_id: UUID, *, reason: str, data_categories: list[str], actor: str
) -> HoldRow:
    """Hold the subject's data in `data_categories` (each a category of the policy's retention;
    none: every category). NotFound for an unknown subject."""
    text = required_reason(reason)
    known = policy.current.policy.retention
    for position, category in enumerate(data_categories):
        if category not in known:
            raise InvalidInput("not a data category of the active policy", field=f"data_categories[{position}]")
    now = datetime.now(UTC)
    hold = HoldRow(
        subject_id=subject_id,
        id=uuid7(),
        reason=text,
        data_categories=sorted(set(data_categories)),
        created_at=now,
        created_by=actor,
    )
    async with transaction(pool) as conn:
        if not await store.subject_exists(conn, subject_id):
            raise NotFound("no subject has this id", field="subject_id")
        await store.insert_hold(conn, hold)
        entry = audit.subject_action(
            actor, "subject.hold_placed", subject_id, hold_id=str(hold.id), data_categories=hold.data_categories
        )
        await audit.record(conn, entry, now=now)
    return hold


async def list_holds(pool: Pool, subject_id: UUID) -> list[HoldRow]:
    """The subject's holds, oldest first (NotFound for an unknown subject)."""
    async with pool.acquire() as conn:
        if not await store.subject_exists(conn, subject_id):
            raise NotFound("no subject has this id", field="subject_id")
        return await store.fetch_holds(conn, subject_id)


async def release_hold(pool: Pool, subject_id: UUID, hold_id: UUID, *, actor: str) -> HoldRow:
    """Release a hold (audited); NotFound when the subject has no hold with this id."""
    async with transaction(pool) as conn:
        hold = await store.delete_hold(conn, subject_id, hold_id)
        if hold is None:
            raise NotFound("this subject has no hold with this id", field="hold_id")
        entry = audit.subject_action(
            actor, "subject.hold_released", subject_id, hold_id=str(hold.id), data_categories=hold.data_categories
        )
        await audit.record(conn, entry)
    return hold
