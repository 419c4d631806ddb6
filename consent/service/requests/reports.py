"""The record of requests CCPA regulations §7101 (and Colorado's rule 6.11) ask to keep for 24
months: when each was received, its type and channel, when and how it was answered, and why it
was denied. Nothing personal: no subject, no identifier, no note."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

import msgspec

from consent.errors import InvalidInput
from consent.store import requests as store
from consent.store.pool import Pool
from consent.store.requests import RequestRow

__all__ = ["ReportRow", "render_csv", "requests_report"]


class ReportRow(msgspec.Struct, kw_only=True, frozen=True):
    request_id: str
    received_at: datetime
    type: str
    channel: str
    jurisdiction: str
    due_at: date
    extended: bool
    responded_at: datetime | None
    """When the request was completed or rejected; None while it is open."""
    outcome: str
    """`completed`, `rejected`, or `open`."""
    denial_reason: str | None


def _report_row(row: RequestRow) -> ReportRow:
    outcome = row.state if row.state in ("completed", "rejected") else "open"
    return ReportRow(
        request_id=str(row.id),
        received_at=row.received_at,
        type=row.type,
        channel=row.channel,
        jurisdiction=row.jurisdiction,
        due_at=row.due_at,
        extended=row.extended,
        responded_at=row.completed_at or row.rejected_at,
        outcome=outcome,
        denial_reason=row.rejection_reason,
    )


async def requests_report(pool: Pool, start: date, end: date) -> list[ReportRow]:
    """Every request received from `start` to `end`, both days included (UTC)."""
    if end < start:
        raise InvalidInput("the end is before the start", field="to")
    after_end = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    rows = await store.requests_received_between(pool, datetime.combine(start, time(), tzinfo=UTC), after_end)
    return [_report_row(row) for row in rows]


def render_csv(rows: list[ReportRow]) -> str:
    """The report as CSV with a header line, one request per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ReportRow.__struct_fields__)
    for row in rows:
        writer.writerow(_cell(value) for value in msgspec.structs.astuple(row))
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
