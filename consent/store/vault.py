"""SQL for the vault tables: subjects, subject_keys, subject_identifiers, personal_records,
erasure_tombstones and master_key_versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.ids import BEFORE_ALL
from consent.store.pool import Connection, Pool, fetch_in_index_order

__all__ = [
    "STALE_KEYS",
    "MasterVersionRow",
    "NewSubjects",
    "RecordFieldRow",
    "StaleFields",
    "TombstoneRow",
    "WrappedKeyRow",
    "count_keys_by_master_version",
    "delete_identifier",
    "delete_identifiers",
    "delete_identifiers_of_kind",
    "delete_identifiers_of_kinds",
    "delete_stale_fields",
    "delete_subject_key",
    "fetch_identifier_candidates",
    "fetch_identifiers_of",
    "fetch_record_fields",
    "fetch_wrapped_key",
    "insert_identifier",
    "insert_new_subjects",
    "insert_subject",
    "insert_tombstone",
    "is_tombstoned",
    "lock_identifier",
    "lock_identifiers",
    "lock_stale_keys",
    "master_key_versions",
    "note_master_version",
    "replace_record_fields",
    "retire_master_version",
    "update_wrapped_keys",
]


async def insert_subject(
    conn: Connection, subject_id: UUID, *, created_at: datetime, master_version: int, wrapped_key: bytes
) -> bool:
    """Create a subject with its wrapped data key; False if the id exists already."""
    inserted = await conn.fetchval(
        "INSERT INTO subjects (id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        subject_id,
        created_at,
    )
    if not inserted:
        return False
    await conn.execute(
        "INSERT INTO subject_keys (subject_id, master_version, wrapped_key, created_at) VALUES ($1, $2, $3, $4)",
        subject_id,
        master_version,
        wrapped_key,
        created_at,
    )
    return True


async def fetch_wrapped_key(conn: Connection | Pool, subject_id: UUID) -> tuple[int, bytes] | None:
    row = await conn.fetchrow("SELECT master_version, wrapped_key FROM subject_keys WHERE subject_id = $1", subject_id)
    return None if row is None else (row["master_version"], bytes(row["wrapped_key"]))


async def is_tombstoned(conn: Connection | Pool, subject_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM erasure_tombstones WHERE subject_id = $1", subject_id))


async def lock_identifier(conn: Connection, kind: str, blind_index: bytes) -> None:
    """Serialise creators of one identifier until commit, so it never gets two subjects."""
    await lock_identifiers(conn, [kind], [blind_index])


async def fetch_identifier_candidates(
    conn: Connection | Pool, kind: str, blind_index: bytes
) -> list[tuple[UUID, bytes]]:
    rows = await conn.fetch(
        "SELECT subject_id, ciphertext FROM subject_identifiers WHERE kind = $1 AND blind_index = $2",
        kind,
        blind_index,
    )
    return [(row["subject_id"], bytes(row["ciphertext"])) for row in rows]


async def fetch_identifiers_of(conn: Connection | Pool, subject_id: UUID) -> list[tuple[str, bytes]]:
    """The subject's identifiers as (kind, ciphertext), in a stable order."""
    rows = await conn.fetch(
        "SELECT kind, ciphertext FROM subject_identifiers WHERE subject_id = $1 ORDER BY kind, created_at",
        subject_id,
    )
    return [(row["kind"], bytes(row["ciphertext"])) for row in rows]


async def insert_identifier(
    conn: Connection, *, kind: str, blind_index: bytes, subject_id: UUID, ciphertext: bytes, created_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, blind_index, subject_id)"
        " DO UPDATE SET ciphertext = EXCLUDED.ciphertext",
        kind,
        blind_index,
        subject_id,
        ciphertext,
        created_at,
    )


async def delete_identifiers_of_kind(conn: Connection, subject_id: UUID, kind: str) -> None:
    await conn.execute("DELETE FROM subject_identifiers WHERE subject_id = $1 AND kind = $2", subject_id, kind)


async def delete_identifiers_of_kinds(conn: Connection, subject_ids: list[UUID], kinds: list[str]) -> int:
    """Delete each (subject, kind) pair's identifiers, the lists read in parallel; how many went."""
    result = await conn.execute(
        "DELETE FROM subject_identifiers AS i USING unnest($1::uuid[], $2::text[]) AS p(subject_id, kind)"
        " WHERE i.subject_id = p.subject_id AND i.kind = p.kind",
        subject_ids,
        kinds,
    )
    return int(result.split()[-1])


async def delete_identifier(conn: Connection, kind: str, blind_index: bytes, subject_id: UUID) -> None:
    await conn.execute(
        "DELETE FROM subject_identifiers WHERE kind = $1 AND blind_index = $2 AND subject_id = $3",
        kind,
        blind_index,
        subject_id,
    )


async def delete_identifiers(conn: Connection, subject_id: UUID) -> int:
    result = await conn.execute("DELETE FROM subject_identifiers WHERE subject_id = $1", subject_id)
    return int(result.split()[-1])


async def replace_record_fields(
    conn: Connection, subject_id: UUID, fields: dict[str, bytes], updated_at: datetime
) -> None:
    """Make the stored fields exactly `fields` (name -> ciphertext)."""
    await conn.execute(
        "DELETE FROM personal_records WHERE subject_id = $1 AND NOT (field = ANY($2::text[]))",
        subject_id,
        list(fields),
    )
    await conn.executemany(
        "INSERT INTO personal_records (subject_id, field, ciphertext, updated_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = $4",
        [(subject_id, name, blob, updated_at) for name, blob in fields.items()],
    )


class RecordFieldRow(msgspec.Struct, kw_only=True, frozen=True):
    """One encrypted field of a personal record."""

    field: str
    ciphertext: bytes
    updated_at: datetime


class StaleFields(msgspec.Struct, kw_only=True, frozen=True):
    """The fields deleted from one subject's record (names only)."""

    subject_id: UUID
    fields: list[str]


async def delete_stale_fields(
    conn: Connection, fields: list[str], *, written_before: datetime, limit: int
) -> list[StaleFields]:
    """Delete up to `limit` record fields among `fields` last written before `written_before`,
    skipping rows another transaction holds; what went, by subject."""
    records = await conn.fetch(
        """
        WITH gone AS (
            DELETE FROM personal_records WHERE (subject_id, field) IN (
                SELECT subject_id, field FROM personal_records
                 WHERE updated_at < $2 AND field = ANY($1::text[])
                 ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED
            ) RETURNING subject_id, field
        )
        SELECT subject_id, array_agg(field ORDER BY field) AS fields FROM gone GROUP BY subject_id ORDER BY subject_id
        """,
        fields,
        written_before,
        limit,
    )
    return [StaleFields(subject_id=row["subject_id"], fields=list(row["fields"])) for row in records]


async def fetch_record_fields(conn: Connection | Pool, subject_id: UUID) -> list[RecordFieldRow]:
    rows = await conn.fetch(
        "SELECT field, ciphertext, updated_at FROM personal_records WHERE subject_id = $1", subject_id
    )
    return [
        RecordFieldRow(field=row["field"], ciphertext=row["ciphertext"], updated_at=row["updated_at"]) for row in rows
    ]


async def delete_subject_key(conn: Connection, subject_id: UUID) -> bool:
    result = await conn.execute("DELETE FROM subject_keys WHERE subject_id = $1", subject_id)
    return result != "DELETE 0"


async def insert_tombstone(conn: Connection, subject_id: UUID, erased_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO erasure_tombstones (subject_id, erased_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        subject_id,
        erased_at,
    )


class TombstoneRow(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One erasure: who was erased, and when (nothing personal); also a line of `consent erasures export`.
    `kept_fields`: a partial erasure, which kept these record fields (`*`: all) and its data key."""

    subject_id: UUID
    erased_at: datetime
    kept_fields: tuple[str, ...] | None = None


class MasterVersionRow(msgspec.Struct, kw_only=True, frozen=True):
    version: int
    first_used_at: datetime
    retired_at: datetime | None


class WrappedKeyRow(msgspec.Struct, kw_only=True, frozen=True):
    """A subject's data key, wrapped by one master key version."""

    subject_id: UUID
    master_version: int
    wrapped_key: bytes


async def note_master_version(conn: Connection | Pool, version: int, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO master_key_versions (version, first_used_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        version,
        at,
    )


async def master_key_versions(conn: Connection | Pool) -> list[MasterVersionRow]:
    rows = await conn.fetch("SELECT version, first_used_at, retired_at FROM master_key_versions ORDER BY version")
    return [MasterVersionRow(**dict(row.items())) for row in rows]


async def count_keys_by_master_version(conn: Connection | Pool) -> dict[int, int]:
    rows = await conn.fetch("SELECT master_version, count(*) AS n FROM subject_keys GROUP BY master_version")
    return {row["master_version"]: row["n"] for row in rows}


STALE_KEYS = (
    "SELECT subject_id, master_version, wrapped_key FROM subject_keys WHERE master_version <> $1"
    " AND subject_id > $3 ORDER BY subject_id LIMIT $2 FOR UPDATE SKIP LOCKED"
)


async def lock_stale_keys(
    conn: Connection, current_version: int, limit: int, *, after: UUID = BEFORE_ALL
) -> list[WrappedKeyRow]:
    """A batch of data keys wrapped by an older version, of subjects after `after` in subject order, locked
    (rows other rotators hold are skipped): a rotation walks the keys once, not past the rewrapped ones each batch."""
    rows = await fetch_in_index_order(conn, STALE_KEYS, current_version, limit, after)  # the primary key in order
    return [WrappedKeyRow(**dict(row.items())) for row in rows]


async def update_wrapped_keys(
    conn: Connection, subject_ids: list[UUID], version: int, blobs: list[bytes], at: datetime
) -> None:
    await conn.execute(
        "UPDATE subject_keys AS k SET master_version = $2, wrapped_key = n.blob, rewrapped_at = $4"
        " FROM unnest($1::uuid[], $3::bytea[]) AS n(subject_id, blob) WHERE k.subject_id = n.subject_id",
        subject_ids,
        version,
        blobs,
        at,
    )


async def retire_master_version(conn: Connection, version: int, at: datetime) -> bool:
    """Mark `version` retired if no data key uses it (checked under lock); False otherwise."""
    await conn.execute("LOCK TABLE subject_keys IN SHARE MODE")
    in_use = await conn.fetchval("SELECT true FROM subject_keys WHERE master_version = $1 LIMIT 1", version)
    if in_use:
        return False
    await conn.execute(
        "INSERT INTO master_key_versions (version, first_used_at, retired_at) VALUES ($1, $2, $2)"
        " ON CONFLICT (version) DO UPDATE SET retired_at = coalesce(master_key_versions.retired_at, $2)",
        version,
        at,
    )
    return True


async def lock_identifiers(conn: Connection, kinds: list[str], blind_indexes: list[bytes]) -> None:
    """`lock_identifier` for many at once, always in the same order, so batches never deadlock
    (migration 0022: the claims in the batch statements take the same locks)."""
    await conn.execute("SELECT lock_identifiers($1::text[], $2::bytea[])", kinds, blind_indexes)


class NewSubjects(msgspec.Struct, kw_only=True, frozen=True):
    """Subjects to create, as columns: one data key and one identifier each."""

    subject_ids: list[UUID]
    master_versions: list[int]
    wrapped_keys: list[bytes]
    kinds: list[str]
    blind_indexes: list[bytes]
    ciphertexts: list[bytes]
    created_at: datetime

    def columns(self) -> list[Any]:
        """The parameters of `insert_new_subjects`, $1 to $7."""
        return [
            self.subject_ids,
            self.master_versions,
            self.wrapped_keys,
            self.kinds,
            self.blind_indexes,
            self.ciphertexts,
            self.created_at,
        ]


def planned_subjects_ctes(first: int) -> str:
    """CTEs that create subjects inside a larger statement unless their identifier is held: `held`
    (the claim, migration 0021), `planned` (the subjects left to create), `skipped` (`ids`: the new
    subjects not created) and the three inserts. Their parameters follow `first`:
    `NewSubjects.columns()` ($first+1 to $first+7), then the subjects seen holding the blind indexes
    at lookup, the new ones among them ($first+8). An identifier another subject holds is reported,
    not claimed: the statement writes nothing for its planned subject, and the caller looks it up.
    """
    p = [f"${first + n}" for n in range(1, 9)]
    return f"""held AS MATERIALIZED (
    SELECT h.kind, h.blind_index FROM claim_or_report_identifiers({p[3]}::text[], {p[4]}::bytea[], {p[7]}::uuid[]) AS h
), planned AS MATERIALIZED (
    SELECT n.*
      FROM unnest({p[0]}::uuid[], {p[1]}::int[], {p[2]}::bytea[], {p[3]}::text[], {p[4]}::bytea[], {p[5]}::bytea[])
        AS n(subject_id, master_version, wrapped_key, kind, blind_index, ciphertext)
     WHERE NOT EXISTS (SELECT 1 FROM held WHERE held.kind = n.kind AND held.blind_index = n.blind_index)
), skipped AS MATERIALIZED (
    SELECT ARRAY(SELECT unnest({p[0]}::uuid[]) EXCEPT SELECT subject_id FROM planned) AS ids
), new_subjects AS (
    INSERT INTO subjects (id, created_at) SELECT subject_id, {p[6]} FROM planned
), new_keys AS (
    INSERT INTO subject_keys (subject_id, master_version, wrapped_key, created_at)
    SELECT subject_id, master_version, wrapped_key, {p[6]} FROM planned
), new_identifiers AS (
    INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)
    SELECT kind, blind_index, subject_id, ciphertext, {p[6]} FROM planned
)"""


async def insert_new_subjects(conn: Connection, new: NewSubjects) -> None:
    """Create subjects with their data key and one identifier each: one statement for any number."""
    await conn.execute(
        """
        WITH new_subjects AS (
            INSERT INTO subjects (id, created_at) SELECT id, $7 FROM unnest($1::uuid[]) AS s(id) RETURNING id
        ), new_keys AS (
            INSERT INTO subject_keys (subject_id, master_version, wrapped_key, created_at)
            SELECT k.subject_id, k.version, k.wrapped, $7
              FROM unnest($1::uuid[], $2::int[], $3::bytea[]) AS k(subject_id, version, wrapped)
              JOIN new_subjects s ON s.id = k.subject_id
        )
        INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)
        SELECT i.kind, i.blind_index, i.subject_id, i.ciphertext, $7
          FROM unnest($4::text[], $5::bytea[], $1::uuid[], $6::bytea[]) AS i(kind, blind_index, subject_id, ciphertext)
          JOIN new_subjects s ON s.id = i.subject_id
        """,
        *new.columns(),
    )
