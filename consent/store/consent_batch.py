"""One statement that commits a whole batch of consent writes: events, state, facts, audit, outbox.

Data-modifying CTEs let PostgreSQL apply all five inserts in a single round
trip; per batch that replaces five statements, and the batch is what every
recorded consent waits for.
"""

from __future__ import annotations

from typing import Any

from consent.store.consent_events import EVENT_COLUMNS, EVENT_TYPES
from consent.store.pool import Connection

__all__ = ["write_batch"]

_EVENT_PARAMS = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(EVENT_TYPES, start=1))
_N = len(EVENT_TYPES)


def _p(offset: int, *kinds: str) -> str:
    return ", ".join(f"${_N + offset + i}::{kind}[]" for i, kind in enumerate(kinds))


_WRITE = f"""
WITH events AS (
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
)
SELECT 1
"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


async def write_batch(
    conn: Connection,
    *,
    events: list[tuple[Any, ...]],
    states: list[tuple[Any, ...]],
    facts: list[tuple[Any, ...]],
    audit: list[tuple[Any, ...]],
    outbox: list[tuple[Any, ...]],
) -> None:
    """Rows as tuples in column order: events in `EVENT_COLUMNS`; states (subject_id, purpose, status,
    notice_version, recorded_at, event_id), newest per key; facts (subject_id, gpc_opt_out_at,
    jurisdiction), one per subject; audit rows as `consent.service.audit` builds them; outbox
    (id, recipient, subject_id, kind, payload, created_at)."""
    await conn.execute(
        _WRITE,
        *_columns(events, len(EVENT_COLUMNS)),
        *_columns(states, 6),
        *_columns(facts, 3),
        *_columns(audit, 7),
        *_columns(outbox, 6),
    )
