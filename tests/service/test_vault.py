"""The vault's promises: no plaintext at rest, crypto-shredding, online rotation."""

from __future__ import annotations

import asyncio
import base64
from uuid import UUID

import pytest

from consent.errors import Conflict
from consent.ids import uuid7
from consent.key_material import load_key_material
from consent.runtime import Runtime, running
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.data_keys import DataKeys
from consent.service.vault.master_key_rotation import (
    add_master_key_version,
    key_status,
    retire_version,
    rewrap_data_keys,
)
from consent.service.vault.personal_records import PersonalRecord, erase_subject_keys, read_record, write_record
from consent.store.pool import Connection, connect
from crypto import (
    DecryptionFailed,
    LocalKeyProvider,
    WrappedDataKey,
    decrypt_field,
    new_data_key,
    parse_master_key_file,
)

EMAIL = "Taro.Suzuki@Example.com"
PHONE = "+81 80-9876-5432"
NAME = "Taro Suzuki"


async def dump_every_table(conn: Connection) -> bytes:
    """Every row of every table, as COPY writes it (text and binary), concatenated."""
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    chunks: list[bytes] = []
    for row in tables:
        for fmt in ("text", "binary"):

            async def collect(data: bytes) -> None:
                chunks.append(data)

            await conn.copy_from_table(row["tablename"], output=collect, format=fmt)
    return b"\n".join(chunks)


def forms(value: str) -> list[bytes]:
    raw = [value, value.lower(), value.upper(), value.strip().lower()]
    encoded = [v.encode() for v in raw]
    return encoded + [base64.b64encode(v) for v in encoded] + [v.encode().hex().encode() for v in raw]


async def test_no_personal_value_reaches_any_table(runtime: Runtime, conn: Connection) -> None:
    subject_id = uuid7()
    record = PersonalRecord(name=NAME, email=EMAIL, phone=PHONE, attributes={"city": "Sapporo"})
    await write_record(conn, runtime.subjects, subject_id, record, actor="test")
    await read_record(conn, runtime.subjects, subject_id, actor="test")
    dump = await dump_every_table(conn)
    assert len(dump) > 1000  # the dump did capture the tables
    found = [
        (value, form[:6])
        for value in (EMAIL, "taro.suzuki@example.com", PHONE, "+818098765432", "8098765432", NAME, "Sapporo")
        for form in forms(value)
        if form in dump
    ]
    assert found == []


async def test_reads_and_writes_of_personal_data_are_audited_without_values(runtime: Runtime, conn: Connection) -> None:
    subject_id = uuid7()
    await write_record(conn, runtime.subjects, subject_id, PersonalRecord(email=EMAIL), actor="key:x")
    await read_record(conn, runtime.subjects, subject_id, actor="key:y")
    rows = await conn.fetch("SELECT actor, action, target, detail FROM audit_log ORDER BY recorded_at")
    actions = [(r["actor"], r["action"]) for r in rows]
    assert ("key:x", "personal_record.write") in actions
    assert ("key:y", "personal_record.read") in actions
    assert "suzuki" not in str([dict(r) for r in rows]).lower()


async def test_erasure_makes_remaining_ciphertexts_unreadable_even_with_the_master_keys(
    runtime: Runtime, conn: Connection
) -> None:
    subject_id = uuid7()
    await write_record(conn, runtime.subjects, subject_id, PersonalRecord(name=NAME, email=EMAIL), actor="test")
    wrapped = await conn.fetchrow(
        "SELECT master_version, wrapped_key FROM subject_keys WHERE subject_id = $1", subject_id
    )
    assert wrapped is not None
    assert await erase_subject_keys(conn, runtime.subjects, subject_id, actor="test")

    assert await conn.fetchval("SELECT count(*) FROM subject_keys WHERE subject_id = $1", subject_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM subject_identifiers WHERE subject_id = $1", subject_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM erasure_tombstones WHERE subject_id = $1", subject_id) == 1
    leftovers = await conn.fetch("SELECT field, ciphertext FROM personal_records WHERE subject_id = $1", subject_id)
    assert leftovers  # ciphertext remains, as it would in a backup...
    # ...and no key the service holds opens it: not a fresh data key, not any master key.
    provider = runtime.data_keys.provider
    assert await runtime.data_keys.get(conn, subject_id) is None
    for row in leftovers:
        for version in provider.versions:
            forged = WrappedDataKey(master_version=version, blob=bytes(wrapped["wrapped_key"]))
            if version != wrapped["master_version"]:
                with pytest.raises(DecryptionFailed):
                    await provider.unwrap_data_key(forged, subject_id=subject_id)
        with pytest.raises(DecryptionFailed):
            decrypt_field(
                new_data_key(),
                bytes(row["ciphertext"]),
                subject_id=subject_id,
                table="personal_records",
                field=row["field"],
            )
    assert await runtime.subjects.find(conn, runtime.subjects.identifier("email", EMAIL)) is None


async def test_an_erased_subject_id_cannot_be_reused(runtime: Runtime, conn: Connection) -> None:
    subject_id = uuid7()
    await write_record(conn, runtime.subjects, subject_id, PersonalRecord(name=NAME), actor="test")
    await erase_subject_keys(conn, runtime.subjects, subject_id, actor="test")
    with pytest.raises(Conflict):
        await write_record(conn, runtime.subjects, subject_id, PersonalRecord(name=NAME), actor="test")


async def test_erasure_evicts_the_key_cached_by_another_instance(
    runtime: Runtime, conn: Connection, database_url: str
) -> None:
    subject_id = uuid7()
    await write_record(conn, runtime.subjects, subject_id, PersonalRecord(name=NAME), actor="test")
    async with running(runtime.settings, database_url) as other:
        assert await other.data_keys.get(other.pool, subject_id) is not None  # cached there now
        await erase_subject_keys(conn, runtime.subjects, subject_id, actor="test")
        for _ in range(100):
            if await other.data_keys.get(other.pool, subject_id) is None:
                break
            await asyncio.sleep(0.01)
        assert await other.data_keys.get(other.pool, subject_id) is None


async def test_rotation_under_load_then_retire_the_old_version(runtime: Runtime, database_url: str) -> None:
    material = runtime.keys
    assert material.master_key_file is not None
    writers = [await connect(database_url) for _ in range(3)]
    rotator = await connect(database_url)
    try:
        subjects: list[UUID] = []
        for n in range(60):  # data keys under version 1
            subject_id = uuid7()
            await write_record(writers[0], runtime.subjects, subject_id, PersonalRecord(name=f"person {n}"), actor="t")
            subjects.append(subject_id)
        new_version = add_master_key_version(material.master_key_file)
        provider = LocalKeyProvider(parse_master_key_file(material.master_key_file.read_text()))
        stop = asyncio.Event()

        async def write_and_read(conn: Connection, n: int) -> None:
            while not stop.is_set():
                subject_id = uuid7()
                await write_record(conn, runtime.subjects, subject_id, PersonalRecord(name=f"w{n}"), actor="t")
                subjects.append(subject_id)
                await read_record(conn, runtime.subjects, subjects[len(subjects) // 2], actor="t")

        load = [asyncio.create_task(write_and_read(c, n)) for n, c in enumerate(writers)]
        await asyncio.sleep(0.05)
        rewrapped = await rewrap_data_keys(rotator, provider, actor="t", batch=7)
        stop.set()
        await asyncio.gather(*load)
        rewrapped += await rewrap_data_keys(rotator, provider, actor="t", batch=7)  # writes that raced the first pass
        assert rewrapped >= 60
        status = await key_status(rotator, provider)
        assert set(status.data_keys_by_version) == {new_version}
        await retire_version(rotator, provider, 1, actor="t")
        with pytest.raises(Conflict):
            await retire_version(rotator, provider, new_version, actor="t")
        # Drop version 1 from the key file entirely: every record still decrypts.
        lines = [ln for ln in material.master_key_file.read_text().splitlines() if not ln.startswith("1:")]
        material.master_key_file.write_text("\n".join(lines) + "\n")
        fresh = load_key_material(runtime.settings)
        assert fresh.provider.versions == (new_version,)
        reader = Subjects(DataKeys(fresh, runtime.notifications), fresh.index_key, runtime.notifications)
        for subject_id in subjects:
            assert (await read_record(rotator, reader, subject_id, actor="t")).record.reveal().name
    finally:
        for c in [*writers, rotator]:
            await c.close()


async def test_retiring_a_version_in_use_is_refused(runtime: Runtime, conn: Connection) -> None:
    await write_record(conn, runtime.subjects, uuid7(), PersonalRecord(name=NAME), actor="test")
    material = runtime.keys
    assert material.master_key_file is not None
    add_master_key_version(material.master_key_file)
    provider = LocalKeyProvider(parse_master_key_file(material.master_key_file.read_text()))
    with pytest.raises(Conflict, match="still wrapped"):
        await retire_version(conn, provider, 1, actor="test")
