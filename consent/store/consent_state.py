"""SQL for `consent_state` and `subject_facts`: what the check path reads, one round trip per subject."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from uuid import UUID

import msgspec

from consent.store.pool import Connection, Pool, Record
from policies import ConsentState, ConsentStatus, SubjectFacts

__all__ = [
    "ConsentStateRow",
    "IdentifierCandidate",
    "Resolved",
    "StoredState",
    "SubjectFactsRow",
    "add_objections",
    "clear_birth_dates",
    "count_outdated_grants",
    "fetch_states",
    "resolve",
    "set_birth_date",
]


class ConsentStateRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One row of `consent_state` as the batch writer upserts it."""

    subject_id: UUID
    purpose: str
    status: str
    notice_version: int
    recorded_at: datetime
    event_id: UUID
    by_guardian: bool = False


class SubjectFactsRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """The part of `subject_facts` a consent write sets: a GPC opt-out (kept once set), the jurisdiction."""

    subject_id: UUID
    gpc_opt_out_at: datetime | None
    jurisdiction: str


class StoredState(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What is stored of one existing subject's consent, already in the decision engine's terms
    (the check path builds each value once): its latest choice per purpose and its facts, if any."""

    consents: dict[str, ConsentState]
    facts: SubjectFacts | None
    jurisdiction: str | None


class IdentifierCandidate(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A subject holding a blind index, with what confirming it takes: the identifier's ciphertext
    and the subject's wrapped data key."""

    kind: str
    blind_index: bytes
    subject_id: UUID
    ciphertext: bytes
    master_version: int
    wrapped_key: bytes


_STATUSES = {status.value: status for status in ConsentStatus}

# One row per purpose (or one all-NULL row for a subject with facts but no choices yet),
# each carrying the subject's facts: a single round trip answers a whole check.
_FETCH = """
SELECT s.subject_id AS state_subject, s.purpose, s.status, s.notice_version, s.recorded_at, s.by_guardian,
       f.subject_id AS facts_subject, f.gpc_opt_out_at, f.direct_marketing_objected_at,
       f.objected_purposes, f.jurisdiction, f.birth_date
  FROM unnest($1::uuid[]) AS wanted(subject_id)
  LEFT JOIN subject_facts f ON f.subject_id = wanted.subject_id
  LEFT JOIN consent_state s ON s.subject_id = wanted.subject_id
"""


def _add(found: dict[UUID, StoredState], subject: UUID, row: Record) -> None:
    """File a joined state row (`_FETCH`'s columns) under `subject`."""
    stored = found.get(subject)
    if stored is None:
        facts, jurisdiction = None, None
        if row["facts_subject"] is not None:
            facts = SubjectFacts(
                gpc_opt_out_at=row["gpc_opt_out_at"],
                direct_marketing_objected_at=row["direct_marketing_objected_at"],
                objected_purposes=frozenset(row["objected_purposes"]),
                birth_date=row["birth_date"],
            )
            jurisdiction = row["jurisdiction"]
        stored = found[subject] = StoredState(consents={}, facts=facts, jurisdiction=jurisdiction)
    purpose = row["purpose"]
    if purpose is not None:
        stored.consents[purpose] = ConsentState(
            status=_STATUSES[row["status"]],
            notice_version=row["notice_version"],
            recorded_at=row["recorded_at"],
            by_guardian=row["by_guardian"],
        )


async def fetch_states(conn: Connection | Pool, subject_ids: list[UUID]) -> dict[UUID, StoredState]:
    """The stored state of each subject that has state rows or facts (absent: nothing stored)."""
    found: dict[UUID, StoredState] = {}
    for row in await conn.fetch(_FETCH, subject_ids):
        subject = row["state_subject"] or row["facts_subject"]
        if subject is not None:
            _add(found, subject, row)
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
), concerned AS (  -- candidates came through subject_keys; subjects asked for by id must be found there
    SELECT subject_id FROM candidates
    UNION
    SELECT asked.subject_id FROM unnest($3::uuid[]) AS asked(subject_id)
      JOIN subject_keys k ON k.subject_id = asked.subject_id
)
SELECT 'c' AS part, c.kind, c.blind_index, c.subject_id, c.ciphertext, c.master_version, c.wrapped_key,
       NULL::uuid AS state_subject, NULL::text AS purpose, NULL::text AS status, NULL::int AS notice_version,
       NULL::timestamptz AS recorded_at, NULL::bool AS by_guardian, NULL::uuid AS facts_subject,
       NULL::timestamptz AS gpc_opt_out_at, NULL::timestamptz AS direct_marketing_objected_at,
       NULL::text[] AS objected_purposes, NULL::text AS jurisdiction, NULL::date AS birth_date
  FROM candidates c
UNION ALL
SELECT 's', NULL, NULL, x.subject_id, NULL, NULL, NULL,
       s.subject_id, s.purpose, s.status, s.notice_version, s.recorded_at, s.by_guardian,
       f.subject_id, f.gpc_opt_out_at, f.direct_marketing_objected_at, f.objected_purposes, f.jurisdiction,
       f.birth_date
  FROM concerned x  -- only subjects that exist and are not erased
  LEFT JOIN subject_facts f ON f.subject_id = x.subject_id
  LEFT JOIN consent_state s ON s.subject_id = x.subject_id
"""


class Resolved(NamedTuple):
    """What `resolve` read: the identifier candidates, and the stored state of every subject concerned
    that exists (not erased), empty for one with nothing stored yet."""

    candidates: list[IdentifierCandidate]
    states: dict[UUID, StoredState]


async def resolve(
    conn: Connection | Pool, kinds: list[str], blind_indexes: list[bytes], subject_ids: list[UUID]
) -> Resolved:
    """The identifier candidates for the given (kind, blind index) pairs, and the stored state of
    the given subjects and of every candidate."""
    candidates: list[IdentifierCandidate] = []
    states: dict[UUID, StoredState] = {}
    for row in await conn.fetch(_RESOLVE, kinds, blind_indexes, subject_ids):
        if row["part"] == "c":
            candidates.append(
                IdentifierCandidate(
                    kind=row["kind"],
                    blind_index=row["blind_index"],
                    subject_id=row["subject_id"],
                    ciphertext=row["ciphertext"],
                    master_version=row["master_version"],
                    wrapped_key=row["wrapped_key"],
                )
            )
        elif row["state_subject"] is not None or row["facts_subject"] is not None:
            _add(states, row["subject_id"], row)
        elif row["subject_id"] not in states:
            states[row["subject_id"]] = StoredState(consents={}, facts=None, jurisdiction=None)
    return Resolved(candidates=candidates, states=states)


async def add_objections(
    conn: Connection, subject_id: UUID, *, direct_marketing_at: datetime | None, purposes: list[str]
) -> None:
    """Record objections in the subject's facts: to direct marketing (the first time is kept) and to
    `purposes` (added to those already objected to)."""
    await conn.execute(
        """
        INSERT INTO subject_facts (subject_id, direct_marketing_objected_at, objected_purposes)
        VALUES ($1, $2, $3)
        ON CONFLICT (subject_id) DO UPDATE
           SET direct_marketing_objected_at = coalesce(subject_facts.direct_marketing_objected_at,
                                                       EXCLUDED.direct_marketing_objected_at),
               objected_purposes = ARRAY(SELECT DISTINCT p
                                           FROM unnest(subject_facts.objected_purposes || EXCLUDED.objected_purposes) p
                                          ORDER BY p)
        """,
        subject_id,
        direct_marketing_at,
        purposes,
    )


async def clear_birth_dates(conn: Connection, subject_ids: list[UUID]) -> None:
    """Forget the birth dates of these subjects (their record's copy is gone)."""
    await conn.execute(
        "UPDATE subject_facts SET birth_date = NULL WHERE subject_id = ANY($1::uuid[]) AND birth_date IS NOT NULL",
        subject_ids,
    )


async def set_birth_date(conn: Connection, subject_id: UUID, birth_date: date | None) -> None:
    """The birth date the decision engine's minor rules read (None: treated as an adult)."""
    if birth_date is None:
        await conn.execute(
            "UPDATE subject_facts SET birth_date = NULL WHERE subject_id = $1 AND birth_date IS NOT NULL", subject_id
        )
        return
    await conn.execute(
        "INSERT INTO subject_facts (subject_id, birth_date) VALUES ($1, $2)"
        " ON CONFLICT (subject_id) DO UPDATE SET birth_date = EXCLUDED.birth_date",
        subject_id,
        birth_date,
    )
