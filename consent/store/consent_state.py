"""SQL for `consent_state` and `subject_facts`: what the check path reads, one round trip per subject."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from consent.store.pool import Connection, Pool

__all__ = ["count_outdated_grants", "fetch_states", "resolve"]

# One row per purpose (or one all-NULL row for a subject with facts but no choices yet),
# each carrying the subject's facts: a single round trip answers a whole check.
_FETCH = """
SELECT s.subject_id AS state_subject, s.purpose, s.status, s.notice_version, s.recorded_at, s.by_guardian,
       f.subject_id AS facts_subject, f.gpc_opt_out_at, f.direct_marketing_objected_at,
       f.objected_purposes, f.jurisdiction
  FROM unnest($1::uuid[]) AS wanted(subject_id)
  LEFT JOIN subject_facts f ON f.subject_id = wanted.subject_id
  LEFT JOIN consent_state s ON s.subject_id = wanted.subject_id
"""


async def fetch_states(conn: Connection | Pool, subject_ids: list[UUID]) -> dict[UUID, list[asyncpg.Record]]:
    """The state rows of each subject (keys are the subjects that exist; rows may be empty)."""
    found: dict[UUID, list[asyncpg.Record]] = {}
    for row in await conn.fetch(_FETCH, subject_ids):
        subject = row["state_subject"] or row["facts_subject"]
        if subject is not None:
            found.setdefault(subject, []).append(row)
    return found


async def count_outdated_grants(conn: Connection, purpose: str, min_notice_version: int) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM consent_state WHERE purpose = $1 AND status = 'granted' AND notice_version < $2",
        purpose,
        min_notice_version,
    )
    return count


# Identifier candidates (with their wrapped data keys) and the state rows of every subject
# concerned, in one round trip: a cold check costs a single query however many parts it has.
_RESOLVE = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::bytea[]) AS w(kind, blind_index)
), candidates AS (
    SELECT i.kind, i.blind_index, i.subject_id, i.ciphertext, k.master_version, k.wrapped_key
      FROM subject_identifiers i
      JOIN wanted w ON i.kind = w.kind AND i.blind_index = w.blind_index
      JOIN subject_keys k ON k.subject_id = i.subject_id
), concerned AS (
    SELECT subject_id FROM candidates UNION SELECT unnest($3::uuid[])
)
SELECT 'c' AS part, c.kind, c.blind_index, c.subject_id, c.ciphertext, c.master_version, c.wrapped_key,
       NULL::uuid AS state_subject, NULL::text AS purpose, NULL::text AS status, NULL::int AS notice_version,
       NULL::timestamptz AS recorded_at, NULL::bool AS by_guardian, NULL::uuid AS facts_subject,
       NULL::timestamptz AS gpc_opt_out_at, NULL::timestamptz AS direct_marketing_objected_at,
       NULL::text[] AS objected_purposes, NULL::text AS jurisdiction
  FROM candidates c
UNION ALL
SELECT 's', NULL, NULL, x.subject_id, NULL, NULL, NULL,
       s.subject_id, s.purpose, s.status, s.notice_version, s.recorded_at, s.by_guardian,
       f.subject_id, f.gpc_opt_out_at, f.direct_marketing_objected_at, f.objected_purposes, f.jurisdiction
  FROM concerned x
  JOIN subject_keys k ON k.subject_id = x.subject_id  -- only subjects that exist and are not erased
  LEFT JOIN subject_facts f ON f.subject_id = x.subject_id
  LEFT JOIN consent_state s ON s.subject_id = x.subject_id
"""


async def resolve(
    conn: Connection | Pool, kinds: list[str], blind_indexes: list[bytes], subject_ids: list[UUID]
) -> tuple[list[asyncpg.Record], dict[UUID, list[asyncpg.Record]]]:
    """(identifier candidates, state rows by subject) for the given indexes and subject ids."""
    candidates: list[asyncpg.Record] = []
    states: dict[UUID, list[asyncpg.Record]] = {}
    for row in await conn.fetch(_RESOLVE, kinds, blind_indexes, subject_ids):
        if row["part"] == "c":
            candidates.append(row)
        elif row["state_subject"] is not None or row["facts_subject"] is not None:
            states.setdefault(row["subject_id"], []).append(row)
        else:
            states.setdefault(row["subject_id"], [])
    return candidates, states
