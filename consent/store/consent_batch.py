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
from consent.store.pool import Connection
from consent.store.vault import NewSubjects

__all__ = ["BatchRows", "create_and_write_batch", "write_batch"]

# Each table's rows travel as one JSON array of objects, unpacked by `json_to_recordset`. One
# parameter per table instead of one array per column: encoding some forty arrays cost asyncpg
# more than a commit's worth of CPU for a lone write, and msgspec writes the JSON in one C call.
# Byte strings arrive as base64 text (msgspec's form) and are decoded in SQL.
_STATE_COLUMNS = (("subject_id", "uuid"), ("purpose", "text"), ("status", "text"), ("notice_version", "int"),
                  ("recorded_at", "timestamptz"), ("event_id", "uuid"))  # fmt: skip
_FACT_COLUMNS = (("subject_id", "uuid"), ("gpc_opt_out_at", "timestamptz"), ("jurisdiction", "text"))
_AUDIT_COLUMNS = (("id", "uuid"), ("recorded_at", "timestamptz"), ("actor", "text"), ("action", "text"),
                  ("target", "jsonb"), ("detail", "jsonb"), ("content_hash", "text"))  # fmt: skip
_OUTBOX_COLUMNS = (("id", "uuid"), ("recipient", "text"), ("subject_id", "uuid"), ("kind", "text"),
                   ("payload", "jsonb"), ("created_at", "timestamptz"))  # fmt: skip
_EVENT_COLUMNS = tuple(zip(EVENT_COLUMNS, EVENT_TYPES, strict=True))


def _recordset(param: int, columns: tuple[tuple[str, str], ...]) -> str:
    return f"json_to_recordset(${param}::json) AS r({', '.join(f'{name} {kind}' for name, kind in columns)})"


_WRITES = f"""
events AS (
    INSERT INTO consent_events ({", ".join(EVENT_COLUMNS)}) SELECT * FROM {_recordset(1, _EVENT_COLUMNS)}
), states AS (
    INSERT INTO consent_state (subject_id, purpose, status, notice_version, recorded_at, event_id)
    SELECT * FROM {_recordset(2, _STATE_COLUMNS)}
    ON CONFLICT (subject_id, purpose) DO UPDATE
       SET status = EXCLUDED.status, notice_version = EXCLUDED.notice_version,
           recorded_at = EXCLUDED.recorded_at, event_id = EXCLUDED.event_id
     WHERE consent_state.recorded_at <= EXCLUDED.recorded_at
), facts AS (
    INSERT INTO subject_facts (subject_id, gpc_opt_out_at, jurisdiction)
    SELECT * FROM {_recordset(3, _FACT_COLUMNS)}
    ON CONFLICT (subject_id) DO UPDATE
       SET gpc_opt_out_at = coalesce(subject_facts.gpc_opt_out_at, EXCLUDED.gpc_opt_out_at),
           jurisdiction = EXCLUDED.jurisdiction
), audit AS (
    INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)
    SELECT r.id, r.recorded_at, r.actor, r.action, r.target, r.detail, decode(r.content_hash, 'base64')
      FROM {_recordset(4, _AUDIT_COLUMNS)}
), outbox AS (
    INSERT INTO outbox (id, recipient, subject_id, kind, payload, created_at, next_attempt_at)
    SELECT r.*, r.created_at FROM {_recordset(5, _OUTBOX_COLUMNS)}
)"""
_WRITE = f"WITH {_WRITES}\nSELECT 1"

_C = 5  # the tables' parameters above, then the new subjects' and the claim's
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

    def columns(self) -> list[list[dict[str, Any]]]:
        """The five tables' parameters, $1 to $5: each table's rows as objects (the pool encodes JSON)."""
        tables = (self.events, self.states, self.facts, self.audit, self.outbox)
        return [_objects(rows, names) for rows, names in zip(tables, _TABLE_NAMES, strict=True)]


def _names(columns: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(name for name, _ in columns)


# Column names per table, in `columns()` order: worked out once, not per batch.
_TABLE_NAMES = tuple(
    _names(columns) for columns in (_EVENT_COLUMNS, _STATE_COLUMNS, _FACT_COLUMNS, _AUDIT_COLUMNS, _OUTBOX_COLUMNS)
)


def _objects(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


async def write_batch(conn: Connection, rows: BatchRows) -> None:
    """Write a batch's rows in the caller's transaction."""
    await conn.execute(_WRITE, *rows.columns())


async def create_and_write_batch(conn: Connection, rows: BatchRows, *, new: NewSubjects, seen: list[UUID]) -> None:
    """`write_batch`, creating `new` subjects in the same statement: its own transaction, one commit.

    `seen` are the subjects the caller saw holding the new identifiers' blind indexes (collisions)
    when it looked them up. The statement fails with SQLSTATE CN409 if any other subject holds one
    now, and with a foreign-key violation if a subject it writes for is gone; it then changed nothing.
    """
    await conn.execute(
        _CREATE_AND_WRITE,
        *rows.columns(),
        *new.columns(),
        [*seen, *new.subject_ids],
    )
