"""`consent holds place|list|release`: legal holds that keep a subject's data from erasure."""

from __future__ import annotations

import uuid

import click

from consent.cli._context import CLI_ACTOR
from consent.cli._requests import run_service
from consent.service.requests.holds import HoldRow, list_holds, place_hold, release_hold

__all__ = ["holds"]


def _line(hold: HoldRow) -> str:
    categories = ",".join(hold.data_categories) or "*"
    return f"{hold.id}  {hold.subject_id}  {categories:<20}  {hold.created_at:%Y-%m-%d}  {hold.reason}"


@click.group()
def holds() -> None:
    """Legal holds: an erasure keeps the data categories a hold covers, and says why."""


@holds.command()
@click.argument("subject_id", type=click.UUID)
@click.option("--reason", required=True, help="Why (a case or order number); kept for the record: no personal values.")
@click.option("--category", "categories", multiple=True, help="A data category held (repeat); none: every category.")
def place(subject_id: uuid.UUID, reason: str, categories: tuple[str, ...]) -> None:
    """Place a hold on a subject; prints it: id, subject, categories (* for all), placed on, reason."""
    hold = run_service(
        lambda runtime: place_hold(
            runtime.pool, runtime.policy, subject_id, reason=reason, data_categories=list(categories), actor=CLI_ACTOR
        )
    )
    click.echo(_line(hold))


@holds.command("list")
@click.argument("subject_id", type=click.UUID)
def list_(subject_id: uuid.UUID) -> None:
    """The subject's holds, one line each, oldest first."""
    found = run_service(lambda runtime: list_holds(runtime.pool, subject_id))
    for hold in found:
        click.echo(_line(hold))
    if not found:
        click.echo("no holds", err=True)


@holds.command()
@click.argument("subject_id", type=click.UUID)
@click.argument("hold_id", type=click.UUID)
def release(subject_id: uuid.UUID, hold_id: uuid.UUID) -> None:
    """Release a hold; an erasure from then on no longer keeps what it covered."""
    hold = run_service(lambda runtime: release_hold(runtime.pool, subject_id, hold_id, actor=CLI_ACTOR))
    click.echo(f"released {hold.id}")
