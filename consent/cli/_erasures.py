"""`consent erasures export|replay`: carry erasures over to a restored backup.

A backup taken before an erasure still holds the erased subject's wrapped data
key. Every erasure leaves a tombstone (subject id and time, nothing personal),
so before a restored database serves, the tombstones recorded since its backup
are exported from the newer database (or its latest backup) and replayed into
the restored one, which destroys the same data keys and identifiers again. An
erasure that kept fields under a legal exception (and so the data key) is
exported with `kept_fields`; its replay deletes the other fields again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from consent.cli._context import CLI_ACTOR, database_url, fail, load, run_with_connection, say
from consent.config import ConfigError
from consent.key_material import load_key_material
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.data_keys import DataKeys
from consent.service.vault.erasure_replay import Replayed, TombstoneRow, replay_erasures, tombstones_since
from consent.store.notifications import Notifications
from consent.store.pool import Connection

__all__ = ["erasures"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(TombstoneRow).decode


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--since: {text!r} is not an ISO 8601 date or time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group()
def erasures() -> None:
    """Erasure tombstones: export them, and replay them into a restored database before it serves."""


@erasures.command()
@click.option("--since", help="Only erasures at or after this ISO 8601 time (UTC if no offset), e.g. the backup's.")
def export(since: str | None) -> None:
    """Print the erasure tombstones as JSON lines: {"subject_id": ..., "erased_at": ...}, oldest first.

    A partial erasure (fields kept under a legal exception) has "kept_fields" too."""
    start = _moment(since)

    async def work(conn: Connection) -> int:
        count = 0
        async for tombstone in tombstones_since(conn, start):
            click.echo(_encode(tombstone).decode())
            count += 1
        return count

    count = run_with_connection(load(), work)
    say(f"exported {count} erasure tombstone(s)")


def _read(lines: Iterable[bytes], source: str) -> list[TombstoneRow]:
    tombstones = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            tombstones.append(_decode(line))
        except msgspec.DecodeError as exc:
            fail(f"{source}, line {number}: not a tombstone ({exc})")
    return tombstones


def _read_file(file: str) -> tuple[list[TombstoneRow], str]:
    source = "<stdin>" if file == "-" else Path(file).name
    try:
        with click.open_file(file, "rb") as lines:
            return _read(lines, source), source
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")


@erasures.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def replay(file: str) -> None:
    """Re-apply the erasures in FILE (from `consent erasures export`; - for stdin), audited.

    For each subject not yet erased here: destroy its data key and lookup
    identifiers and record the tombstone with its original time; for a partial
    erasure, delete the record fields and identifiers it did not keep. Subjects
    this database already holds a tombstone for are left as they are, so a
    replay can be repeated. Run it on a restored database before it serves.
    """
    tombstones, source = _read_file(file)
    settings = load()
    try:
        material = load_key_material(settings, announce=say)
    except ConfigError as exc:
        fail(f"configuration: {exc}")

    with database_url(settings) as url:
        # The data keys are destroyed, never read: nothing is cached, so the listener need not run.
        # Running instances still drop their cached keys through the table's NOTIFY trigger.
        notifications = Notifications(url)
        subjects = Subjects(DataKeys(material, notifications), material.index_key, notifications)

        async def work(conn: Connection) -> Replayed:
            return await replay_erasures(conn, subjects, tombstones, source=source, actor=CLI_ACTOR)

        outcome = run_with_connection(msgspec.structs.replace(settings, database_url=url), work)
    partial = f"; {outcome.partial} partial (fields kept under a legal exception)" if outcome.partial else ""
    click.echo(
        f"replayed {outcome.replayed} erasure(s): {outcome.data_keys_destroyed} data key(s) destroyed; "
        f"{outcome.already_erased} already erased here{partial}"
    )
