"""Who must be asked again when a policy raises a purpose's minimum notice version."""

from __future__ import annotations

from consent.store import consent_state
from consent.store.pool import Connection

__all__ = ["count_reconsent"]


async def count_reconsent(conn: Connection, purpose_id: str, min_notice_version: int) -> int:
    """Subjects whose grant of `purpose_id` was given under a notice below `min_notice_version`."""
    return await consent_state.count_outdated_grants(conn, purpose_id, min_notice_version)
