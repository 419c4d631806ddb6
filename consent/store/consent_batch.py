"""One statement that commits a whole batch of consent writes: events, state, facts, audit, outbox.

Data-modifying CTEs let PostgreSQL apply all five inserts in a single round
trip; per batch that replaces five statements, and the batch is what every
recorded consent waits for. `create_and_write_batch` also creates the batch's
new subjects, claiming their identifiers (migration 0021), so a batch of new
visitors is one statement, run on its own: its own transaction, one commit. An
identifier another subject holds is reported, and its writes left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
import msgspec

from consent.errors import Forbidden, NotFound
from consent.store.audit import AuditRow, insert_from_json
from consent.store.consent_events import ConsentEventRow
from consent.store.consent_state import ConsentStateRow, SubjectFactsRow
from consent.store.outbox import OutboxRow
from consent.store.pool import Connection
from consent.store.recordsets import names, recordset, typed
from consent.store.vault import NewSubjects, planned_subjects_ctes

__all__ = ["BatchRows", "create_and_write_batch", "write_batch"]

# Each table's rows travel as one JSON parameter (`consent.store.recordsets`).
_EVENT_COLUMNS = typed(ConsentEventRow)
_STATE_COLUMNS = typed(ConsentStateRow)
_FACT_COLUMNS = typed(SubjectFactsRow)
_OUTBOX_COLUMNS = typed(OutboxRow)


def _writes(kept: str) -> str:
    """The five tables' inserts; `kept` is the SQL condition a row (`r`) is written under, with
    `{subject}` for its subject's id (an audit entry names it in its target)."""
    audit_kept = kept.format(subject="(r.target ->> 'subject_id')::uuid")
    kept = kept.format(subject="r.subject_id")
    return f"""
events AS (
    INSERT INTO consent_events ({names(_EVENT_COLUMNS)})
    SELECT r.* FROM {recordset(1, _EVENT_COLUMNS)} WHERE {kept}
), states AS (
    INSERT INTO consent_state ({names(_STATE_COLUMNS)})
    SELECT r.* FROM {recordset(2, _STATE_COLUMNS)} WHERE {kept}
    ON CONFLICT (subject_id, purpose) DO UPDATE
       SET status = EXCLUDED.status, notice_version = EXCLUDED.notice_version,
           recorded_at = EXCLUDED.recorded_at, event_id = EXCLUDED.event_id, by_guardian = EXCLUDED.by_guardian
     WHERE consent_state.recorded_at <= EXCLUDED.recorded_at
), facts AS (
    INSERT INTO subject_facts ({names(_FACT_COLUMNS)})
    SELECT r.* FROM {recordset(3, _FACT_COLUMNS)} WHERE {kept}
    ON CONFLICT (subject_id) DO UPDATE
       SET gpc_opt_out_at = coalesce(subject_facts.gpc_opt_out_at, EXCLUDED.gpc_opt_out_at),
           jurisdiction = CASE WHEN subject_facts.subject_id = ANY ($6::uuid[])
                               THEN coalesce(subject_facts.jurisdiction, EXCLUDED.jurisdiction)
                               ELSE EXCLUDED.jurisdiction END
), audit AS (
    {insert_from_json(4, only_if=audit_kept)}
), outbox AS (
    INSERT INTO outbox ({names(_OUTBOX_COLUMNS)}, next_attempt_at)
    SELECT r.*, r.created_at FROM {recordset(5, _OUTBOX_COLUMNS)} WHERE {kept}
), guard AS (
    SELECT refuse_linked_subjects($7::uuid[]) AS ok
)"""


_WRITE = f"WITH {_writes('true')}\nSELECT ok FROM guard"

_C = 7  # the tables' parameters and the publishable writes' subjects above, then the new subjects' and the claim's
# A row is written unless it is a new subject's whose identifier turned out to be held (`skipped`).
_KEPT = "{subject} <> ALL ((SELECT ids FROM skipped)::uuid[])"
_CREATE_AND_WRITE = f"""
WITH {planned_subjects_ctes(_C)}
, {_writes(_KEPT)}
SELECT guard.ok, skipped.ids AS not_created FROM guard, skipped
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


async def _run(conn: Connection, statement: str, *args: object) -> asyncpg.Record | None:
    try:
        return await conn.fetchrow(statement, *args)
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


async def create_and_write_batch(conn: Connection, rows: BatchRows, *, new: NewSubjects, seen: list[UUID]) -> set[UUID]:
    """`write_batch`, creating `new` subjects in the same statement: its own transaction, one commit.
    Returns the new subjects not created, whose rows it did not write either: another subject holds
    their identifier (`planned_subjects_ctes`), and their writes must be prepared again for it.

    `seen` are the subjects the caller saw holding the new identifiers' blind indexes (collisions of
    truncated indexes) when it looked them up; an identifier is held only by a subject not among
    them. The statement fails with NotFound if a subject it writes for is gone, and with Forbidden
    if a publishable key wrote for a linked subject; it then changed nothing.
    """
    record = await _run(conn, _CREATE_AND_WRITE, *rows.columns(), *new.columns(), [*seen, *new.subject_ids])
    assert record is not None, "the statement returns one row"
    return set(record["not_created"])
