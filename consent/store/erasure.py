"""SQL an erasure runs across tables, besides the vault's: each statement finds its rows by subject.

The consent history stays (pseudonymous proof); what could still link it to a person goes:
stored answers to Idempotency-Keys, messages not yet sent, plain user-agent digests in proofs, and
the personal record's fields. Every statement is idempotent: running an erasure twice deletes
nothing more the second time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from uuid import UUID

from consent.store.pool import Connection
from consent.store.vault import TombstoneRow

__all__ = [
    "consented_purposes",
    "delete_idempotency_records",
    "delete_record_fields",
    "delete_unsent_messages",
    "insert_partial_erasure",
    "iter_erasures",
    "strip_plain_user_agents",
]


def _count(result: str) -> int:
    return int(result.rsplit(maxsplit=1)[-1])


async def consented_purposes(conn: Connection, subject_id: UUID) -> list[str]:
    """Every purpose the subject ever granted (its recipients may hold data from then on)."""
    records = await conn.fetch(
        "SELECT DISTINCT purpose FROM consent_events WHERE subject_id = $1 AND status = 'granted' ORDER BY purpose",
        subject_id,
    )
    return [record["purpose"] for record in records]


async def delete_record_fields(conn: Connection, subject_id: UUID, *, keep: Collection[str] = ()) -> int:
    """Delete the subject's personal-record fields but those in `keep`; how many."""
    result = await conn.execute(
        "DELETE FROM personal_records WHERE subject_id = $1 AND NOT (field = ANY($2::text[]))", subject_id, list(keep)
    )
    return _count(result)


async def delete_idempotency_records(conn: Connection, subject_id: UUID) -> int:
    result = await conn.execute("DELETE FROM idempotency_keys WHERE subject_id = $1", subject_id)
    return _count(result)


async def delete_unsent_messages(conn: Connection, subject_id: UUID, *, keeping_suffix: str) -> int:
    """Delete the subject's outbox messages still to be sent (pending or parked), but those whose
    kind ends with `keeping_suffix` (the orders of requests, which must reach their recipients)."""
    result = await conn.execute(
        "DELETE FROM outbox WHERE subject_id = $1 AND state IN ('pending', 'failed') AND right(kind, $3) <> $2",
        subject_id,
        keeping_suffix,
        len(keeping_suffix),
    )
    return _count(result)


async def strip_plain_user_agents(conn: Connection, subject_id: UUID) -> int:
    """Remove plain user-agent digests left from before they were keyed (migration 0009); how many."""
    result = await conn.execute(
        "UPDATE consent_events SET proof = proof - 'user_agent_sha256'"
        " WHERE subject_id = $1 AND proof ? 'user_agent_sha256'",
        subject_id,
    )
    return _count(result)


async def insert_partial_erasure(
    conn: Connection, subject_id: UUID, erased_at: datetime, kept_fields: Sequence[str]
) -> None:
    """Record an erasure that kept `kept_fields` (migration 0020); once per subject and time."""
    await conn.execute(
        "INSERT INTO partial_erasures (subject_id, erased_at, kept_fields) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        subject_id,
        erased_at,
        list(kept_fields),
    )


async def iter_erasures(conn: Connection, since: datetime) -> AsyncIterator[TombstoneRow]:
    """Tombstones and partial erasures recorded at or after `since`, oldest first (a cursor: memory
    stays flat); a tombstone has no `kept_fields`."""
    async with conn.transaction():
        async for row in conn.cursor(
            """
            SELECT subject_id, erased_at, NULL::text[] AS kept_fields FROM erasure_tombstones WHERE erased_at >= $1
            UNION ALL
            SELECT subject_id, erased_at, kept_fields FROM partial_erasures WHERE erased_at >= $1
            ORDER BY erased_at, subject_id
            """,
            since,
            prefetch=1000,
        ):
            kept = row["kept_fields"]
            yield TombstoneRow(
                subject_id=row["subject_id"],
                erased_at=row["erased_at"],
                kept_fields=None if kept is None else tuple(kept),
            )
