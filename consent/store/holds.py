"""SQL for `subject_holds`: legal holds that keep a subject's data from erasure (migration 0009)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool

__all__ = ["HoldRow", "delete_hold", "fetch_holds", "insert_hold", "subject_exists"]


class HoldRow(msgspec.Struct, kw_only=True, frozen=True):
    """One legal hold; no data categories named: every category."""

    subject_id: UUID
    id: UUID
    reason: str
    data_categories: list[str]
    created_at: datetime
    created_by: str


_COLUMNS = ", ".join(HoldRow.__struct_fields__)


async def insert_hold(conn: Connection, hold: HoldRow) -> None:
    await conn.execute(
        f"INSERT INTO subject_holds ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
        *(getattr(hold, name) for name in HoldRow.__struct_fields__),
    )


async def fetch_holds(conn: Connection | Pool, subject_id: UUID) -> list[HoldRow]:
    """The subject's holds, oldest first."""
    records = await conn.fetch(f"SELECT {_COLUMNS} FROM subject_holds WHERE subject_id = $1 ORDER BY id", subject_id)
    return [HoldRow(**dict(record.items())) for record in records]


async def delete_hold(conn: Connection, subject_id: UUID, hold_id: UUID) -> HoldRow | None:
    """Release a hold; None when the subject has no hold with this id."""
    record = await conn.fetchrow(
        f"DELETE FROM subject_holds WHERE subject_id = $1 AND id = $2 RETURNING {_COLUMNS}", subject_id, hold_id
    )
    return None if record is None else HoldRow(**dict(record.items()))


async def subject_exists(conn: Connection | Pool, subject_id: UUID) -> bool:
    """Whether the subject was ever created (an erased one still exists, without its key)."""
    return bool(await conn.fetchval("SELECT true FROM subjects WHERE id = $1", subject_id))
