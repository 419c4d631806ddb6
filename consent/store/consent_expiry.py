"""SQL for finding grants past their lifetime, which housekeeping turns into `expired` events.

The `expired` event's id is derived from the grant's (`md5('consent.expired:' || grant id)`), so
a grant expires once however often, and by however many instances, housekeeping runs: a second
insert would collide on the primary key, and the search below no longer finds it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.ids import BEFORE_ALL
from consent.store.pool import Connection, fetch_in_index_order

__all__ = ["EXPIRING", "ExpiringGrant", "lock_expiring_grants"]


class ExpiringGrant(msgspec.Struct, kw_only=True, frozen=True):
    """A subject's current grant of a purpose, older than the purpose's lifetime, not yet expired."""

    subject_id: UUID
    grant_event_id: UUID
    expired_event_id: UUID
    recorded_at: datetime
    jurisdiction: str
    property: str
    notice_version: int


EXPIRING = """
SELECT s.subject_id, s.event_id AS grant_event_id, x.expired_event_id, s.recorded_at,
       e.jurisdiction, e.property, e.notice_version
  FROM consent_state s
  JOIN consent_events e ON e.subject_id = s.subject_id AND e.id = s.event_id
 CROSS JOIN LATERAL (SELECT md5('consent.expired:' || s.event_id::text)::uuid AS expired_event_id) x
 WHERE s.subject_id > $4 AND s.purpose = $1 AND s.status = 'granted' AND s.recorded_at <= $2
   AND NOT EXISTS (
       SELECT 1 FROM consent_events done WHERE done.subject_id = s.subject_id AND done.id = x.expired_event_id
   )
 ORDER BY s.subject_id
 LIMIT $3
   FOR UPDATE OF s SKIP LOCKED
"""
"""Planned with sorting priced out, so it walks the primary key from `$4` and stops at `LIMIT`."""


async def lock_expiring_grants(
    conn: Connection, *, purpose: str, granted_before: datetime, limit: int, after: UUID = BEFORE_ALL
) -> list[ExpiringGrant]:
    """Up to `limit` current grants of `purpose` recorded before `granted_before`, not yet expired,
    of subjects after `after`, in subject order: a run passes `after` the last subject of the batch
    before, so it reads each state row once however many grants expire (ordered by age, each
    batch read and sorted every grant of the purpose: a year's grants expiring at once took a
    pass over all of them per 500).

    Their state rows stay locked until the caller's transaction ends, so a new choice recorded
    meanwhile commits after the `expired` event, never before it (the feed's order stays true).
    Rows another transaction holds are skipped: the next run takes them.
    """
    rows = await fetch_in_index_order(conn, EXPIRING, purpose, granted_before, limit, after)
    return [ExpiringGrant(**dict(row.items())) for row in rows]
