"""`consent erasures export|replay` with partial erasures: fields kept under a legal exception, and
the data key with them, so a restored backup brings the erased fields back until the replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from click.testing import CliRunner

from consent.cli import main
from consent.config import Settings
from consent.runtime import Runtime
from consent.service.vault.partial_erasure import EVERY_FIELD, erase_all_but
from consent.store.pool import Connection
from tests.cli.test_keys import backup_of, erase, query, with_service, write_people

__all__ = ["backup_of"]  # the fixture, imported for this module's tests


def erase_all_but_name(settings: Settings, database_url: str, subject_ids: list[UUID], kept: list[str]) -> None:
    async def work(runtime: Runtime, conn: Connection) -> None:
        for subject_id in subject_ids:
            async with conn.transaction():
                await erase_all_but(conn, runtime.subjects, subject_id, kept, erased_at=datetime.now(UTC))

    with_service(settings, database_url, work)


def fields_of(database_url: str) -> dict[UUID, list[str]]:
    rows = query(
        database_url, "SELECT subject_id, array_agg(field ORDER BY field) AS f FROM personal_records GROUP BY 1"
    )
    return {row["subject_id"]: row["f"] for row in rows}


def identifier_owners(database_url: str) -> set[UUID]:
    return {row["subject_id"] for row in query(database_url, "SELECT DISTINCT subject_id FROM subject_identifiers")}


def test_a_partial_erasure_is_exported_with_what_it_kept_and_replayed_into_a_restored_backup(
    cli: CliRunner, settings: Settings, database_url: str, backup_of: Callable[[], str]
) -> None:
    held, shredded, held_entirely, untouched = write_people(settings, database_url, 4)  # a name and an email each
    restored_url = backup_of()  # taken before the erasures below
    erase_all_but_name(settings, database_url, [held], ["name"])
    erase_all_but_name(settings, database_url, [held_entirely], [EVERY_FIELD])
    erase(settings, database_url, [shredded])

    exported = cli.invoke(main, ["erasures", "export"])
    assert exported.exit_code == 0, exported.stderr
    lines = {UUID(line["subject_id"]): line for line in map(json.loads, exported.stdout.splitlines())}
    assert lines[held]["kept_fields"] == ["name"]
    assert lines[held_entirely]["kept_fields"] == ["*"]
    assert set(lines[shredded]) == {"subject_id", "erased_at"}  # a tombstone, as before
    assert fields_of(restored_url)[held] == ["email", "name"]  # the backup brought the email back

    result = cli.invoke(main, ["erasures", "replay", "-"], input=exported.stdout, env={"DATABASE_URL": restored_url})
    assert result.exit_code == 0, result.stderr
    assert "replayed 3 erasure(s): 1 data key(s) destroyed; 0 already erased here; 2 partial" in result.stdout
    fields = fields_of(restored_url)
    assert (fields[held], fields[held_entirely], fields[untouched]) == (["name"], ["email", "name"], ["email", "name"])
    assert identifier_owners(restored_url) == {held_entirely, untouched}  # the held email's identifier went too
    assert {row["subject_id"] for row in query(restored_url, "SELECT subject_id FROM subject_keys")} == {
        held,
        held_entirely,
        untouched,
    }
    replayed = query(restored_url, "SELECT subject_id, erased_at, kept_fields FROM partial_erasures ORDER BY 2")
    original = query(database_url, "SELECT subject_id, erased_at, kept_fields FROM partial_erasures ORDER BY 2")
    assert [tuple(r) for r in replayed] == [tuple(r) for r in original]  # exported again from here, as there

    again = cli.invoke(main, ["erasures", "replay", "-"], input=exported.stdout, env={"DATABASE_URL": restored_url})
    assert again.exit_code == 0, again.stderr
    assert fields_of(restored_url)[held] == ["name"]
    erase(settings, restored_url, [held])  # erased entirely later: a partial replay leaves it alone
    last = cli.invoke(main, ["erasures", "replay", "-"], input=exported.stdout, env={"DATABASE_URL": restored_url})
    assert "replayed 1 erasure(s): 0 data key(s) destroyed; 2 already erased here; 1 partial" in last.stdout
