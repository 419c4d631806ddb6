"""Key material and the commands that operate it: `consent keys status|rotate|retire`, and
`consent erasures export|replay`, which carry crypto-shredding over to a restored backup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import msgspec
import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.config import ConfigError, Environment, Settings
from consent.ids import uuid7
from consent.key_material import load_key_material, reload_master_keys
from consent.runtime import Runtime, running
from consent.service.vault.data_keys import SubjectErased
from consent.service.vault.personal_records import PersonalRecord, erase_subject_keys, read_record, write_record
from consent.store.pool import Connection, connect
from crypto import generate_master_key_entry, generate_signing_key_entry
from tests.helpers import with_database

T = TypeVar("T")
KEY_1 = generate_master_key_entry(1)
KEY_2 = generate_master_key_entry(2)
KEY_3 = generate_master_key_entry(3)


def with_service(settings: Settings, database_url: str, work: Callable[[Runtime, Connection], Awaitable[T]]) -> T:
    """Run `work` in a started service process (as `consent serve` would hold it), then stop it."""

    async def main() -> T:
        async with running(settings, database_url) as runtime, runtime.pool.acquire() as conn:
            return await work(runtime, conn)

    return asyncio.run(main())


def write_people(settings: Settings, database_url: str, count: int) -> list[UUID]:
    async def work(runtime: Runtime, conn: Connection) -> list[UUID]:
        subject_ids = [uuid7() for _ in range(count)]
        for n, subject_id in enumerate(subject_ids):
            record = PersonalRecord(name=f"person {n}", email=f"{subject_id}@example.com")
            await write_record(conn, runtime.subjects, subject_id, record, actor="test")
        return subject_ids

    return with_service(settings, database_url, work)


def read_names(settings: Settings, database_url: str, subject_ids: list[UUID]) -> list[str | None]:
    async def work(runtime: Runtime, conn: Connection) -> list[str | None]:
        records = [await read_record(conn, runtime.subjects, s, actor="test") for s in subject_ids]
        return [r.record.reveal().name for r in records]

    return with_service(settings, database_url, work)


def query(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    async def fetch() -> list[asyncpg.Record]:
        conn = await connect(database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def data_keys_by_version(database_url: str) -> dict[int, int]:
    rows = query(database_url, "SELECT master_version, count(*) AS n FROM subject_keys GROUP BY 1")
    return {row["master_version"]: row["n"] for row in rows}


def audited(database_url: str, action: str) -> list[asyncpg.Record]:
    return query(database_url, "SELECT actor, target, detail FROM audit_log WHERE action = $1", action)


def test_every_keys_and_erasures_command_has_help() -> None:
    runner = CliRunner()
    for command in (["keys", "status"], ["keys", "rotate"], ["keys", "retire"], ["erasures", "export"]):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output
    replay = runner.invoke(main, ["erasures", "replay", "--help"])
    assert "before it serves" in replay.output


# ---------------------------------------------------------------------------------------------
# Loading keys


def test_production_refuses_to_start_without_keys(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DATABASE_URL": database_url, "CONSENT_HOME": str(home), "CONSENT_ENV": "production"}
    result = CliRunner(env=env).invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "CONSENT_MASTER_KEYS: required in production" in result.stderr
    assert not (home / "keys").exists()  # no development key was made up


def test_without_consent_env_serve_refuses_to_start_without_keys(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"DATABASE_URL": database_url, "CONSENT_HOME": str(home), "CONSENT_ENV": None}
    result = CliRunner(env=env).invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "CONSENT_MASTER_KEYS: required in production" in result.stderr
    assert "CONSENT_ENV=development" in result.stderr
    assert not (home / "keys").exists()


def test_production_reads_every_configured_key(settings: Settings, tmp_path: Path) -> None:
    production = msgspec.structs.replace(settings, env=Environment.PRODUCTION)
    with pytest.raises(ConfigError, match=r"^CONSENT_MASTER_KEYS: required in production"):
        load_key_material(production)
    configured = msgspec.structs.replace(
        production,
        master_keys=KEY_1,
        index_key="MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        signing_keys="k1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
    )
    with pytest.raises(ConfigError, match=r"^CONSENT_AUDIT_KEYS: required in production"):
        load_key_material(configured)
    configured = msgspec.structs.replace(configured, audit_keys=generate_signing_key_entry("audit-1"))
    material = load_key_material(configured)
    assert material.provider.versions == (1,)
    assert not (settings.home / "keys").exists()


def test_development_creates_key_files_once_with_mode_0600(settings: Settings) -> None:
    told: list[str] = []
    first = load_key_material(settings, announce=told.append)
    assert len(told) == 4
    assert all("created the development key file" in message for message in told)
    for name in ("master.keys", "index.key", "signing.keys", "audit.keys"):
        assert (settings.home / "keys" / name).stat().st_mode & 0o777 == 0o600
    again = load_key_material(settings, announce=told.append)
    assert len(told) == 4
    assert again.provider.versions == first.provider.versions


def test_keys_from_both_the_variable_and_a_file_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    path.write_text(KEY_2 + "\n")
    result = cli.invoke(
        main, ["keys", "status"], env={"CONSENT_MASTER_KEYS": KEY_1, "CONSENT_MASTER_KEY_FILE": str(path)}
    )
    assert result.exit_code == 1
    assert "CONSENT_MASTER_KEYS and CONSENT_MASTER_KEY_FILE are both set" in result.stderr
    assert KEY_1.split(":")[1] not in result.output


def test_the_current_version_can_be_pinned_below_the_highest(
    cli: CliRunner, settings: Settings, database_url: str
) -> None:
    pinned = msgspec.structs.replace(settings, master_keys=f"{KEY_2},{KEY_1}", master_key_current=1)
    write_people(pinned, database_url, 2)
    assert data_keys_by_version(database_url) == {1: 2}  # version 2 is held, but not yet used
    env = {"CONSENT_MASTER_KEYS": f"{KEY_2},{KEY_1}", "CONSENT_MASTER_KEY_CURRENT": "1"}
    status = cli.invoke(main, ["keys", "status"], env=env)
    assert status.exit_code == 0, status.stderr
    assert "current master key version: 1 (pinned by CONSENT_MASTER_KEY_CURRENT)" in status.stdout
    # The pin is lifted once every instance holds version 2: new keys use it, rotate moves the rest.
    write_people(msgspec.structs.replace(pinned, master_key_current=None), database_url, 1)
    assert data_keys_by_version(database_url) == {1: 2, 2: 1}
    rotated = cli.invoke(main, ["keys", "rotate"], env={"CONSENT_MASTER_KEYS": f"{KEY_2},{KEY_1}"})
    assert rotated.exit_code == 0, rotated.stderr
    assert data_keys_by_version(database_url) == {2: 3}


def test_a_pin_outside_the_ring_is_refused_naming_it(cli: CliRunner) -> None:
    env = {"CONSENT_MASTER_KEYS": f"{KEY_1},{KEY_2}", "CONSENT_MASTER_KEY_CURRENT": "3"}
    result = cli.invoke(main, ["keys", "status"], env=env)
    assert result.exit_code == 1
    assert "CONSENT_MASTER_KEY_CURRENT is 3, which is not a version of the ring (2, 1)" in result.stderr


def test_reloading_a_key_file_keeps_the_pin(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    path.write_text(KEY_1 + "\n")
    material = load_key_material(msgspec.structs.replace(settings, master_key_file=path, master_key_current=1))
    path.write_text(f"{KEY_1}\n{KEY_2}\n")
    ring = reload_master_keys(material)
    assert ring is not None
    assert (ring.versions, ring.current_version) == ((2, 1), 1)


# ---------------------------------------------------------------------------------------------
# consent keys status | rotate | retire


def test_status_shows_each_version_and_its_data_keys(cli: CliRunner, settings: Settings, database_url: str) -> None:
    empty = cli.invoke(main, ["keys", "status"])
    assert empty.exit_code == 0, empty.stderr
    assert "current master key version: 1\n" in empty.stdout
    assert "version   1:         0 data keys  (configured)" in empty.stdout
    write_people(settings, database_url, 3)
    status = cli.invoke(main, ["keys", "status"])
    assert "version   1:         3 data keys  (configured)" in status.stdout


def test_rotate_adds_a_version_to_the_key_file_and_rewraps_every_data_key(
    cli: CliRunner, settings: Settings, database_url: str
) -> None:
    people = write_people(settings, database_url, 5)
    result = cli.invoke(main, ["keys", "rotate", "--batch", "2"])
    assert result.exit_code == 0, result.stderr
    key_file = settings.home / "keys" / "master.keys"
    assert f"added master key version 2 to {key_file}" in result.stderr
    assert result.stdout.strip() == "rotated: 5 data keys rewrapped under master key version 2"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert data_keys_by_version(database_url) == {2: 5}
    status = cli.invoke(main, ["keys", "status"]).stdout
    assert "current master key version: 2" in status
    assert "version   1:         0 data keys" in status
    assert "version   2:         5 data keys" in status
    [entry] = audited(database_url, "keys.rotate")
    assert (entry["actor"], entry["target"], entry["detail"]) == (
        "cli",
        {"master_version": 2},
        {"data_keys_rewrapped": 5},
    )
    assert read_names(settings, database_url, people) == [f"person {n}" for n in range(5)]


def test_rotate_with_keys_from_the_variable_rewraps_under_the_version_added_there(
    cli: CliRunner, settings: Settings, database_url: str
) -> None:
    write_people(msgspec.structs.replace(settings, master_keys=KEY_1), database_url, 2)
    refused = cli.invoke(main, ["keys", "rotate", "--add-version"], env={"CONSENT_MASTER_KEYS": KEY_1})
    assert refused.exit_code == 1
    assert "add the new version there" in refused.stderr
    result = cli.invoke(main, ["keys", "rotate"], env={"CONSENT_MASTER_KEYS": f"{KEY_1},{KEY_3}"})
    assert result.exit_code == 0, result.stderr
    assert "rewrapped under master key version 3" in result.stdout
    assert data_keys_by_version(database_url) == {3: 2}


def test_rotate_does_not_add_a_version_while_one_is_pinned(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    path.write_text(f"{KEY_1}\n{KEY_2}\n")
    env = {"CONSENT_MASTER_KEY_FILE": str(path), "CONSENT_MASTER_KEY_CURRENT": "1"}
    result = cli.invoke(main, ["keys", "rotate", "--add-version"], env=env)
    assert result.exit_code == 1
    assert "CONSENT_MASTER_KEY_CURRENT pins version 1" in result.stderr
    assert path.read_text() == f"{KEY_1}\n{KEY_2}\n"


def test_retire_of_a_version_in_use_is_refused(cli: CliRunner, settings: Settings, database_url: str) -> None:
    write_people(settings, database_url, 1)
    cli.invoke(main, ["keys", "status"])
    key_file = settings.home / "keys" / "master.keys"
    key_file.write_text(key_file.read_text() + KEY_2 + "\n")  # version 2 is current; 1 still wraps a key
    result = cli.invoke(main, ["keys", "retire", "1"])
    assert result.exit_code == 1
    assert "data keys are still wrapped by master key version 1; run `consent keys rotate` first" in result.stderr
    assert audited(database_url, "keys.retire") == []


def test_retire_of_the_current_version_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(main, ["keys", "retire", "1"])
    assert result.exit_code == 1
    assert "master key version 1 is current" in result.stderr


def test_retire_after_rotation_is_audited_and_the_old_key_can_go(
    cli: CliRunner, settings: Settings, database_url: str
) -> None:
    people = write_people(settings, database_url, 3)
    assert cli.invoke(main, ["keys", "rotate"]).exit_code == 0
    result = cli.invoke(main, ["keys", "retire", "1"])
    assert result.exit_code == 0, result.stderr
    assert "master key version 1 retired" in result.stdout
    [entry] = audited(database_url, "keys.retire")
    assert (entry["actor"], entry["target"]) == ("cli", {"master_version": 1})
    assert "retired" in cli.invoke(main, ["keys", "status"]).stdout
    key_file = settings.home / "keys" / "master.keys"
    key_file.write_text("".join(ln for ln in key_file.read_text().splitlines(True) if not ln.startswith("1:")))
    assert read_names(settings, database_url, people) == [f"person {n}" for n in range(3)]


def test_a_retired_version_cannot_be_pinned_to_wrap_data_keys(
    cli: CliRunner, settings: Settings, database_url: str
) -> None:
    both = f"{KEY_2},{KEY_1}"
    write_people(msgspec.structs.replace(settings, master_keys=both, master_key_current=1), database_url, 1)
    assert cli.invoke(main, ["keys", "rotate"], env={"CONSENT_MASTER_KEYS": both}).exit_code == 0
    assert cli.invoke(main, ["keys", "retire", "1"], env={"CONSENT_MASTER_KEYS": both}).exit_code == 0
    pinned = msgspec.structs.replace(settings, master_keys=both, master_key_current=1)
    with pytest.raises(ConfigError, match=r"^CONSENT_MASTER_KEY_CURRENT: master key version 1 is retired"):
        write_people(pinned, database_url, 1)
    rotated = cli.invoke(main, ["keys", "rotate"], env={"CONSENT_MASTER_KEYS": both, "CONSENT_MASTER_KEY_CURRENT": "1"})
    assert rotated.exit_code == 1
    assert "master key version 1 is retired and may not wrap data keys" in rotated.stderr
    assert data_keys_by_version(database_url) == {2: 1}


# ---------------------------------------------------------------------------------------------
# consent erasures export | replay


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def backup_of(admin_url: str, database_url: str) -> Iterator[Callable[[], str]]:
    """`backup_of()` copies the test's database as it is now (a restored backup) and returns its URL."""
    source = urlsplit(database_url).path.lstrip("/")
    made: list[str] = []

    def backup() -> str:
        name = f"{source}_backup_{len(made)}"
        asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        made.append(name)
        return with_database(admin_url, name)

    yield backup
    for name in made:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def erase(settings: Settings, database_url: str, subject_ids: list[UUID]) -> None:
    async def work(runtime: Runtime, conn: Connection) -> None:
        for subject_id in subject_ids:
            await erase_subject_keys(conn, runtime.subjects, subject_id, actor="test")

    with_service(settings, database_url, work)


def erased_in(settings: Settings, database_url: str, subject_ids: list[UUID]) -> list[bool]:
    async def work(runtime: Runtime, conn: Connection) -> list[bool]:
        found = []
        for subject_id in subject_ids:
            try:
                await read_record(conn, runtime.subjects, subject_id, actor="test")
            except SubjectErased:
                found.append(True)
            else:
                found.append(False)
        return found

    return with_service(settings, database_url, work)


def test_export_prints_each_tombstone_as_a_json_line(cli: CliRunner, settings: Settings, database_url: str) -> None:
    people = write_people(settings, database_url, 3)
    erase(settings, database_url, people[:2])
    result = cli.invoke(main, ["erasures", "export"])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines] == [{"subject_id", "erased_at"}] * 2
    assert {UUID(line["subject_id"]) for line in lines} == set(people[:2])
    stored = query(database_url, "SELECT subject_id, erased_at FROM erasure_tombstones")
    assert {(r["subject_id"], r["erased_at"]) for r in stored} == {
        (UUID(line["subject_id"]), datetime.fromisoformat(line["erased_at"])) for line in lines
    }
    assert "exported 2 erasure tombstone(s)" in result.stderr


def test_export_since_leaves_out_older_erasures(cli: CliRunner, settings: Settings, database_url: str) -> None:
    people = write_people(settings, database_url, 2)
    erase(settings, database_url, people[:1])
    [older] = query(database_url, "SELECT erased_at FROM erasure_tombstones")
    erase(settings, database_url, people[1:])
    result = cli.invoke(main, ["erasures", "export", "--since", (older["erased_at"]).isoformat()])
    assert len(result.stdout.splitlines()) == 2
    later = cli.invoke(main, ["erasures", "export", "--since", "2999-01-01"])
    assert later.exit_code == 0, later.stderr
    assert later.stdout == ""
    bad = cli.invoke(main, ["erasures", "export", "--since", "yesterday"])
    assert bad.exit_code == 1
    assert "--since" in bad.stderr


def test_replay_erases_again_in_a_restored_backup(
    cli: CliRunner, settings: Settings, database_url: str, backup_of: Callable[[], str], tmp_path: Path
) -> None:
    people = write_people(settings, database_url, 4)
    restored_url = backup_of()  # taken before the erasures below
    erase(settings, database_url, people[:2])
    exported = cli.invoke(main, ["erasures", "export"])
    tombstones = tmp_path / "tombstones.jsonl"
    tombstones.write_text(exported.stdout)
    restored = msgspec.structs.replace(settings, database_url=restored_url)
    assert erased_in(restored, restored_url, people) == [False] * 4  # the backup brought them back

    result = cli.invoke(main, ["erasures", "replay", str(tombstones)], env={"DATABASE_URL": restored_url})
    assert result.exit_code == 0, result.stderr
    assert "replayed 2 erasure(s): 2 data key(s) destroyed; 0 already erased here" in result.stdout
    assert erased_in(restored, restored_url, people) == [True, True, False, False]
    key_rows = query(restored_url, "SELECT subject_id FROM subject_keys")
    assert {row["subject_id"] for row in key_rows} == set(people[2:])
    identifiers = query(restored_url, "SELECT DISTINCT subject_id FROM subject_identifiers")
    assert {row["subject_id"] for row in identifiers} == set(people[2:])
    original = query(database_url, "SELECT subject_id, erased_at FROM erasure_tombstones ORDER BY 1")
    replayed = query(restored_url, "SELECT subject_id, erased_at FROM erasure_tombstones ORDER BY 1")
    assert [tuple(r) for r in replayed] == [tuple(r) for r in original]  # the original times
    per_subject = audited(restored_url, "subject.keys_erased")
    assert {(r["actor"], UUID(r["target"]["subject_id"])) for r in per_subject} == {("cli", s) for s in people[:2]}
    [summary] = audited(restored_url, "erasures.replay")
    assert summary["detail"]["replayed"] == 2

    again = cli.invoke(main, ["erasures", "replay", "-"], input=exported.stdout, env={"DATABASE_URL": restored_url})
    assert again.exit_code == 0, again.stderr
    assert "replayed 0 erasure(s): 0 data key(s) destroyed; 2 already erased here" in again.stdout
    assert len(audited(restored_url, "subject.keys_erased")) == 2


def test_replay_of_a_subject_the_backup_never_had_still_blocks_its_id(
    cli: CliRunner, settings: Settings, database_url: str, backup_of: Callable[[], str]
) -> None:
    restored_url = backup_of()
    [late] = write_people(settings, database_url, 1)  # created and erased after the backup
    erase(settings, database_url, [late])
    exported = cli.invoke(main, ["erasures", "export"]).stdout
    result = cli.invoke(main, ["erasures", "replay", "-"], input=exported, env={"DATABASE_URL": restored_url})
    assert "replayed 1 erasure(s): 0 data key(s) destroyed" in result.stdout
    restored = msgspec.structs.replace(settings, database_url=restored_url)
    assert erased_in(restored, restored_url, [late]) == [True]


def test_replay_of_a_malformed_file_applies_nothing(cli: CliRunner, settings: Settings, database_url: str) -> None:
    [person] = write_people(settings, database_url, 1)
    good = json.dumps({"subject_id": str(person), "erased_at": "2025-03-01T12:00:00+00:00"})
    result = cli.invoke(main, ["erasures", "replay", "-"], input=f'{good}\n\n{{"subject": 1}}\n')
    assert result.exit_code == 1
    assert "<stdin>, line 3: not a tombstone" in result.stderr
    assert query(database_url, "SELECT * FROM erasure_tombstones") == []
    assert data_keys_by_version(database_url) == {1: 1}
