"""One statement that commits a whole batch of consent writes: events, state, facts, audit, outbox.

Data-modifying CTEs let PostgreSQL apply all five inserts in a single round
trip; per batch that replaces five statements, and the batch is what every
recorded consent waits for. `create_and_write_batch` also creates the batch's
new subjects, claiming their identifiers (migration 0006), so a batch of new
visitors is one statement, run on its own: its own transaction, one commit.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from consent.store.consent_events import EVENT_COLUMNS, EVENT_TYPES
from consent.store.pool import Connection, Pool
from consent.store.vault import NewSubjects

__all__ = ["BatchRows", "create_and_write_batch", "write_batch"]

_EVENT_PARAMS = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(EVENT_TYPES, start=1))
_N = len(EVENT_TYPES)


def _p(offset: int, *kinds: str) -> str:
    return ", ".join(f"${_N + offset + i}::{kind}[]" for i, kind in enumerate(kinds))


_WRITES = f"""
events AS (
    INSERT INTO consent_events ({", ".join(EVENT_COLUMNS)}) SELECT * FROM unnest({_EVENT_PARAMS})
), states AS (
    INSERT INTO consent_state (subject_id, purpose, status, notice_version, recorded_at, event_id)
    SELECT * FROM unnest({_p(1, "uuid", "text", "text", "int", "timestamptz", "uuid")})
    ON CONFLICT (subject_id, purpose) DO UPDATE
       SET status = EXCLUDED.status, notice_version = EXCLUDED.notice_version,
           recorded_at = EXCLUDED.recorded_at, event_id = EXCLUDED.event_id
     WHERE consent_state.recorded_at <= EXCLUDED.recorded_at
), facts AS (
    INSERT INTO subject_facts (subject_id, gpc_opt_out_at, jurisdiction)
    SELECT * FROM unnest({_p(7, "uuid", "timestamptz", "text")})
    ON CONFLICT (subject_id) DO UPDATE
       SET gpc_opt_out_at = coalesce(subject_facts.gpc_opt_out_at, EXCLUDED.gpc_opt_out_at),
           jurisdiction = EXCLUDED.jurisdiction
), audit AS (
    INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)
    SELECT * FROM unnest({_p(10, "uuid", "timestamptz", "text", "text", "jsonb", "jsonb", "bytea")})
), outbox AS (
    INSERT INTO outbox (id, recipient, subject_id, kind, payload, created_at, next_attempt_at)
    SELECT o.*, o.created_at
      FROM unnest({_p(17, "uuid", "text", "uuid", "text", "jsonb", "timestamptz")})
           AS o(id, recipient, subject_id, kind, payload, created_at)
)"""
_WRITE = f"WITH {_WRITES}\nSELECT 1"

_C = _N + 22  # the parameters above, then the new subjects' and the claim's
_CREATE_AND_WRITE = f"""
WITH claimed AS (
    SELECT claim_identifiers(${_C + 4}::text[], ${_C + 5}::bytea[], ${_C + 8}::uuid[]) AS ok
), new_subjects AS (
    INSERT INTO subjects (id, created_at) SELECT id, ${_C + 7} FROM unnest(${_C + 1}::uuid[]) AS s(id)
), new_keys AS (
    INSERT INTO subject_keys (subject_id, master_version, wrapped_key, created_at)
    SELECT k.*, ${_C + 7} FROM unnest(${_C + 1}::uuid[], ${_C + 2}::int[], ${_C + 3}::bytea[]) AS k
), new_identifiers AS (
    INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)
    SELECT i.*, ${_C + 7} FROM unnest(${_C + 4}::text[], ${_C + 5}::bytea[], ${_C + 1}::uuid[], ${_C + 6}::bytea[]) AS i
), {_WRITES}
SELECT ok FROM claimed
"""


class BatchRows(msgspec.Struct, kw_only=True, frozen=True):
    """A batch's rows as tuples in column order.

    events in `EVENT_COLUMNS`; states (subject_id, purpose, status, notice_version, recorded_at,
    event_id), newest per key; facts (subject_id, gpc_opt_out_at, jurisdiction), one per subject;
    audit rows as `consent.service.audit` builds them; outbox (id, recipient, subject_id, kind,
    payload, created_at).
    """

    events: list[tuple[Any, ...]]
    states: list[tuple[Any, ...]]
    facts: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]

    def columns(self) -> list[tuple[Any, ...]]:
        return [
            *_columns(self.events, len(EVENT_COLUMNS)),
            *_columns(self.states, 6),
            *_columns(self.facts, 3),
            *_columns(self.audit, 7),
            *_columns(self.outbox, 6),
        ]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    """Rows to the column arrays `unnest` takes (zip transposes in C)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


async def write_batch(conn: Connection, rows: BatchRows) -> None:
    """Write a batch's rows in the caller's transaction."""
    await conn.execute(_WRITE, *rows.columns())


async def create_and_write_batch(pool: Pool, rows: BatchRows, *, new: NewSubjects, seen: list[UUID]) -> None:
    """`write_batch`, creating `new` subjects in the same statement, on a connection of its own.

    `seen` are the subjects the caller saw holding the new identifiers' blind indexes (collisions)
    when it looked them up. The statement fails with SQLSTATE CN409 if any other subject holds one
    now, and with a foreign-key violation if a subject it writes for is gone; it then changed nothing.
    """
    await pool.execute(
        _CREATE_AND_WRITE,
        *rows.columns(),
        *new.columns(),
        [*seen, *new.subject_ids],
    )
