"""`consent requests list|show|approve|reject|extend|retry|report`: the compliance team's queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

import click
import msgspec

from consent.cli._context import CLI_ACTOR, database_url, fail, load
from consent.errors import ConsentError
from consent.runtime import Runtime, running
from consent.service.requests.queue import MAX_PAGE, ListFilter, RequestRow, list_requests, request_detail
from consent.service.requests.reports import render_csv, requests_report
from consent.service.requests.states import RequestState
from policies import RequestType

__all__ = ["requests", "run_service"]

T = TypeVar("T")
_encode = msgspec.json.Encoder(order="sorted").encode


def run_service(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run `work` against a started runtime (the services the API uses); errors become one line.

    Without the background work of an instance: a command that approves or retries a request
    enqueues its jobs, and the running instances take them (at once when notified, else at their
    next poll). Run here, the jobs due at that moment would be leased by the command, cut off when
    it exits, and left until their leases lapse; and webhooks would go out from this machine."""
    settings = load()

    async def main(url: str) -> T:
        async with running(settings, url, background=False) as runtime:
            return await work(runtime)

    with database_url(settings) as url:
        try:
            return asyncio.run(main(url))
        except ConsentError as exc:
            fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)")


def _required_day(value: str, option: str) -> date:
    day = _day(value, option)
    assert day is not None, "a value was given"
    return day


def _line(row: RequestRow) -> str:
    due = f"{row.due_at}{'+' if row.extended else ''}"
    return (
        f"{row.id}  {row.type:<13}  {row.state:<11}  {row.jurisdiction:<8}  due {due:<11}  {row.received_at:%Y-%m-%d}"
    )


@click.group()
def requests() -> None:
    """Data subject requests: the queue, its deadlines, and decisions on each request."""


@requests.command("list")
@click.option("--state", type=click.Choice([s.value for s in RequestState]))
@click.option("--type", "request_type", type=click.Choice([t.value for t in RequestType]))
@click.option("--overdue", is_flag=True, help="Only open requests past their due date.")
@click.option("--due-before", help="Only requests due before this day (YYYY-MM-DD).")
@click.option("--after", type=click.UUID, help="Page on from this request id.")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=100, show_default=True)
def list_(
    *,
    state: str | None,
    request_type: str | None,
    overdue: bool,
    due_before: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> None:
    """One line per request, oldest first: id, type, state, jurisdiction, due date (+: extended), received."""
    where = ListFilter(
        state=state,
        type=request_type,
        due_before=_day(due_before, "--due-before"),
        overdue_on=datetime.now(UTC).date() if overdue else None,
        after=after,
        limit=limit,
    )
    rows = run_service(lambda runtime: list_requests(runtime.pool, where))
    for row in rows:
        click.echo(_line(row))
    if not rows:
        click.echo("no requests match", err=True)


@requests.command()
@click.argument("request_id", type=click.UUID)
def show(request_id: uuid.UUID) -> None:
    """The request and its deliveries, as JSON."""
    detail = run_service(lambda runtime: request_detail(runtime.pool, request_id))
    click.echo(_encode(detail).decode())


@requests.command()
@click.argument("request_id", type=click.UUID)
def approve(request_id: uuid.UUID) -> None:
    """Approve a verified request that waits for a person (the policy's `approval = "manual"`)."""
    row = run_service(lambda runtime: runtime.requests.approve(request_id, actor=CLI_ACTOR))
    click.echo(_line(row))


@requests.command()
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True, help="Why it is refused; kept for the record, so no personal values.")
def reject(request_id: uuid.UUID, reason: str) -> None:
    """Reject an open request."""
    row = run_service(lambda runtime: runtime.requests.reject(request_id, reason, actor=CLI_ACTOR))
    click.echo(_line(row))


@requests.command()
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True, help="Why more time is needed (the person must be told).")
def extend(request_id: uuid.UUID, reason: str) -> None:
    """Extend the deadline once, within the first period, by the jurisdiction's extension."""
    row = run_service(lambda runtime: runtime.requests.extend(request_id, reason, actor=CLI_ACTOR))
    click.echo(_line(row))


@requests.command()
@click.argument("request_id", type=click.UUID)
@click.argument("recipient", required=False)
def retry(request_id: uuid.UUID, recipient: str | None) -> None:
    """Move on a request that stopped: a verified one (an opt-out whose recording failed), one in
    progress whose work was parked after its last attempt, or with RECIPIENT its order to that
    recipient, parked as failed after its last delivery attempt."""
    if recipient is not None:
        delivery = run_service(lambda runtime: runtime.requests.retry_delivery(request_id, recipient, actor=CLI_ACTOR))
        click.echo(f"{delivery.request_id}  {delivery.recipient}  {delivery.state}")
        return
    row = run_service(lambda runtime: runtime.requests.retry(request_id, actor=CLI_ACTOR))
    click.echo(_line(row))


@requests.command()
@click.option("--from", "start", required=True, help="First day of receipt (YYYY-MM-DD, UTC).")
@click.option("--to", "end", required=True, help="Last day of receipt (YYYY-MM-DD, UTC), included.")
@click.option("--format", "output", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def report(start: str, end: str, output: str) -> None:
    """The CCPA §7101 record of requests received in a period: no personal values."""
    first, last = _required_day(start, "--from"), _required_day(end, "--to")
    rows = run_service(lambda runtime: requests_report(runtime.pool, first, last))
    click.echo(render_csv(rows) if output == "csv" else _encode(rows).decode(), nl=output != "csv")
