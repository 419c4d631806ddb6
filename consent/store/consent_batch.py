"""One statement that commits a whole batch of consent writes: events, state, facts, audit, outbox.

Data-modifying CTEs let PostgreSQL apply all five inserts in a single round
trip; per batch that replaces five statements, and the batch is what every
recorded consent waits for. `create_and_write_batch` also creates the batch's
new subjects, claiming their identifiers (migration 0006), so a batch of new
visitors is one statement, run on its own: its own transaction, one commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import msgspec

from consent.errors import Forbidden, NotFound
from consent.store.audit import AuditRow
from consent.store.consent_events import ConsentEventRow
from consent.store.consent_state import ConsentStateRow, SubjectFactsRow
from consent.store.outbox import OutboxRow
from consent.store.pool import Connection
from consent.store.vault import NewSubjects

__all__ = ["BatchRows", "create_and_write_batch", "write_batch"]

# Each table's rows travel as one JSON array of objects (the row Structs, encoded by the pool's
# codec), unpacked by `json_to_recordset`. One parameter per table instead of one array per column:
# encoding some forty arrays cost asyncpg more than a commit's worth of CPU for a lone write, and
# msgspec writes the JSON in one C call. Byte strings arrive as base64 text (msgspec's form) and are
# decoded in SQL. Each list of columns names its row Struct's fields.
_TYPES = {"subject_id": "uuid", "id": "uuid", "event_id": "uuid", "receipt_id": "uuid", "notice_version": "int",
          "policy_version": "int", "gpc": "bool", "client_at": "timestamptz", "recorded_at": "timestamptz",
          "created_at": "timestamptz", "gpc_opt_out_at": "timestamptz", "proof": "jsonb", "target": "jsonb",
          "detail": "jsonb", "payload": "jsonb", "by_guardian": "bool"}  # fmt: skip


def _typed(row: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(column, SQL type) for each field of a row Struct; text unless `_TYPES` says otherwise."""
    return tuple((name, _TYPES.get(name, "text")) for name in row.__struct_fields__)


_EVENT_COLUMNS = _typed(ConsentEventRow)
_STATE_COLUMNS = _typed(ConsentStateRow)
_FACT_COLUMNS = _typed(SubjectFactsRow)
_AUDIT_COLUMNS = _typed(AuditRow)  # content_hash arrives as base64 text
_OUTBOX_COLUMNS = _typed(OutboxRow)


def _recordset(param: int, columns: tuple[tuple[str, str], ...]) -> str:
    return f"json_to_recordset(${param}::json) AS r({', '.join(f'{name} {kind}' for name, kind in columns)})"


def _names(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(name for name, _ in columns)


_WRITES = f"""
events AS (
    INSERT INTO consent_events ({_names(_EVENT_COLUMNS)}) SELECT * FROM {_recordset(1, _EVENT_COLUMNS)}
), states AS (
    INSERT INTO consent_state ({_names(_STATE_COLUMNS)})
    SELECT * FROM {_recordset(2, _STATE_COLUMNS)}
    ON CONFLICT (subject_id, purpose) DO UPDATE
       SET status = EXCLUDED.status, notice_version = EXCLUDED.notice_version,
           recorded_at = EXCLUDED.recorded_at, event_id = EXCLUDED.event_id, by_guardian = EXCLUDED.by_guardian
     WHERE consent_state.recorded_at <= EXCLUDED.recorded_at
), facts AS (
    INSERT INTO subject_facts ({_names(_FACT_COLUMNS)})
    SELECT * FROM {_recordset(3, _FACT_COLUMNS)}
    ON CONFLICT (subject_id) DO UPDATE
       SET gpc_opt_out_at = coalesce(subject_facts.gpc_opt_out_at, EXCLUDED.gpc_opt_out_at),
           jurisdiction = CASE WHEN subject_facts.subject_id = ANY ($6::uuid[])
                               THEN coalesce(subject_facts.jurisdiction, EXCLUDED.jurisdiction)
                               ELSE EXCLUDED.jurisdiction END
), audit AS (
    INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash)
    SELECT r.id, r.recorded_at, r.actor, r.action, r.target, r.detail, decode(r.content_hash, 'base64')
      FROM {_recordset(4, _AUDIT_COLUMNS)}
), outbox AS (
    INSERT INTO outbox ({_names(_OUTBOX_COLUMNS)}, next_attempt_at)
    SELECT r.*, r.created_at FROM {_recordset(5, _OUTBOX_COLUMNS)}
), guard AS (
    SELECT refuse_linked_subjects($7::uuid[]) AS ok
)"""
_WRITE = f"WITH {_WRITES}\nSELECT ok FROM guard"

_C = 7  # the tables' parameters and the publishable writes' subjects above, then the new subjects' and the claim's
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
SELECT claimed.ok AND guard.ok FROM claimed, guard
"""


class BatchRows(msgspec.Struct, kw_only=True, frozen=True):
    """A batch's rows: states newest per (subject, purpose), facts one per subject.

    `kept_jurisdiction`: subjects whose stored jurisdiction the facts only set if there is none
    (only publishable keys wrote for them); `publishable`: subjects some publishable key wrote for,
    which must hold no identifier but device ids (migration 0011).
    """

    events: Sequence[ConsentEventRow]
    states: Sequence[ConsentStateRow]
    facts: Sequence[SubjectFactsRow]
    audit: Sequence[AuditRow]
    outbox: Sequence[OutboxRow]
    kept_jurisdiction: Sequence[UUID] = ()
    publishable: Sequence[UUID] = ()

    def columns(self) -> tuple[Sequence[object], ...]:
        """The statement's parameters $1 to $7: the five tables' rows (the pool encodes each list as
        one JSON array), then the two lists of subjects."""
        return (
            self.events,
            self.states,
            self.facts,
            self.audit,
            self.outbox,
            list(self.kept_jurisdiction),
            list(self.publishable),
        )


async def _run(conn: Connection, statement: str, *args: object) -> None:
    try:
        await conn.execute(statement, *args)
    except asyncpg.ForeignKeyViolationError:
        # A subject the batch writes for was erased after the write was prepared.
        raise NotFound("a subject of this write no longer exists (erased)", field="subject") from None
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "CN403":
            raise Forbidden(
                "this device is linked to an account: a publishable key may not record for it; record the "
                "person's choices from your backend with a secret key",
                field="subject.device_id",
            ) from None
        raise


async def write_batch(conn: Connection, rows: BatchRows) -> None:
    """Write a batch's rows in the caller's transaction."""
    await _run(conn, _WRITE, *rows.columns())


async def create_and_write_batch(conn: Connection, rows: BatchRows, *, new: NewSubjects, seen: list[UUID]) -> None:
    """`write_batch`, creating `new` subjects in the same statement: its own transaction, one commit.

    `seen` are the subjects the caller saw holding the new identifiers' blind indexes (collisions)
    when it looked them up. The statement fails with SQLSTATE CN409 if any other subject holds one
    now, with NotFound if a subject it writes for is gone, and with Forbidden if a publishable key
    wrote for a linked subject; it then changed nothing.
    """
    await _run(conn, _CREATE_AND_WRITE, *rows.columns(), *new.columns(), [*seen, *new.subject_ids])
