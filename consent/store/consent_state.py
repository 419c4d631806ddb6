"""SQL for `consent_state` and `subject_facts`: what the check path reads."""

from __future__ import annotations

from consent.store.pool import Connection

__all__ = ["count_outdated_grants"]


async def count_outdated_grants(conn: Connection, purpose: str, min_notice_version: int) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM consent_state WHERE purpose = $1 AND status = 'granted' AND notice_version < $2",
        purpose,
        min_notice_version,
    )
    return count
