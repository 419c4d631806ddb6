"""SQL for `exports` (migration 0010), and the reads an export is built from."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool, Record

__all__ = [
    "ExportRow",
    "NewExport",
    "delete_forgotten",
    "drop_expired_archives",
    "fetch_by_request",
    "fetch_by_token",
    "insert_export",
    "take_archive",
]


class NewExport(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    request_id: UUID
    subject_id: UUID
    token_nonce: bytes
    token_hash: bytes
    archive_ciphertext: bytes
    archive_size: int
    created_at: datetime
    expires_at: datetime


class ExportRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of `exports`, without its archive."""

    id: UUID
    request_id: UUID
    subject_id: UUID
    token_nonce: bytes
    archive_size: int
    created_at: datetime
    expires_at: datetime
    downloaded_at: datetime | None
    available: bool
    """The archive is still stored (not downloaded, not purged)."""


_FIELDS = ("id", "request_id", "subject_id", "token_nonce", "archive_size", "created_at", "expires_at", "downloaded_at")
_COLUMNS = ", ".join(_FIELDS) + ", archive_ciphertext IS NOT NULL AS available"
_NEW = NewExport.__struct_fields__


def _row(record: Record | None) -> ExportRow | None:
    return None if record is None else ExportRow(**dict(record.items()))


async def insert_export(conn: Connection, new: NewExport) -> bool:
    """Store the export; False if the request has one already (a repeated build)."""
    placeholders = ", ".join(f"${n}" for n in range(1, len(_NEW) + 1))
    inserted = await conn.fetchval(
        f"INSERT INTO exports ({', '.join(_NEW)}) VALUES ({placeholders})"
        " ON CONFLICT (request_id) DO NOTHING RETURNING true",
        *(getattr(new, name) for name in _NEW),
    )
    return bool(inserted)


async def fetch_by_request(conn: Connection | Pool, request_id: UUID) -> ExportRow | None:
    return _row(await conn.fetchrow(f"SELECT {_COLUMNS} FROM exports WHERE request_id = $1", request_id))


async def fetch_by_token(conn: Connection | Pool, token_hash: bytes) -> ExportRow | None:
    return _row(await conn.fetchrow(f"SELECT {_COLUMNS} FROM exports WHERE token_hash = $1", token_hash))


async def take_archive(conn: Connection, token_hash: bytes, now: datetime) -> tuple[ExportRow, bytes] | None:
    """Hand out the archive once: mark it downloaded and drop it, in the caller's transaction.

    None if there is no archive to hand out (unknown, used, or expired), however many ask at once:
    a concurrent taker waits for the row lock, then finds the archive gone.
    """
    record = await conn.fetchrow(
        f"""
        WITH taken AS (
            SELECT id, archive_ciphertext FROM exports
             WHERE token_hash = $1 AND archive_ciphertext IS NOT NULL AND expires_at > $2
               FOR UPDATE
        )
        UPDATE exports SET downloaded_at = $2, archive_ciphertext = NULL
          FROM taken WHERE exports.id = taken.id
        RETURNING {", ".join(f"exports.{name}" for name in _FIELDS)}, taken.archive_ciphertext AS archive
        """,
        token_hash,
        now,
    )
    if record is None:
        return None
    fields = dict(record.items())
    archive = bytes(fields.pop("archive"))
    return ExportRow(**fields, available=False), archive


async def drop_expired_archives(conn: Connection, now: datetime) -> list[ExportRow]:
    """Delete the archives past their expiry; the rows stay, so their links can say they expired."""
    records = await conn.fetch(
        f"UPDATE exports SET archive_ciphertext = NULL"
        f" WHERE expires_at <= $1 AND archive_ciphertext IS NOT NULL RETURNING {_COLUMNS}",
        now,
    )
    return [ExportRow(**dict(record.items())) for record in records]


async def delete_forgotten(conn: Connection, expired_before: datetime) -> int:
    """Delete the rows of exports that expired before `expired_before` (their links then answer 404)."""
    result = await conn.execute(
        "DELETE FROM exports WHERE expires_at < $1 AND archive_ciphertext IS NULL", expired_before
    )
    return int(result.split()[-1])
