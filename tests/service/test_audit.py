"""The audit trail: insert-only entries, signed checkpoints, and tampering found by `verify_trail`."""

import asyncio
import hashlib
import json

import asyncpg
import msgspec
import pytest

from consent.service.audit import AuditEntry, entry_document, record, record_many
from consent.service.audit_sealing import Sealer
from consent.service.audit_verification import TrailReport, prove_entry, verify_trail
from consent.store import audit as audit_store
from consent.store.pool import Connection, connect
from crypto import (
    SigningKeyRing,
    generate_signing_key_entry,
    leaf_hash,
    parse_signing_keys,
    read_checkpoint,
    sign_checkpoint,
    verify_inclusion,
)

KEYS = parse_signing_keys(generate_signing_key_entry("audit-test"))


def entry(n: int) -> AuditEntry:
    return AuditEntry(actor="key:test", action="test.action", target={"n": n}, detail={"ids": [str(n)]})


async def seal_all(conn: Connection, sealer: Sealer | None = None) -> int:
    """Seal until nothing is left (a fresh sealer needs a round to see its horizon pass)."""
    sealer = sealer or Sealer(KEYS)
    total = 0
    for _ in range(3):
        while sealed := await sealer.seal(conn):
            total += sealed
    return total


async def write_and_seal(conn: Connection, count: int, *, batch: int = 5000) -> None:
    await record_many(conn, [entry(n) for n in range(count)])
    await seal_all(conn, Sealer(KEYS, batch=batch))


async def verify(conn: Connection, *, keys: SigningKeyRing = KEYS, head: bytes | None = None) -> TrailReport:
    return await verify_trail(conn, keys.public_keys, expect_head=head)


async def rolled_back(conn: Connection, audited: AuditEntry) -> None:
    """Write an entry in a transaction that rolls back: its position stays a gap."""
    transaction = conn.transaction()
    await transaction.start()
    await record(conn, audited)
    await transaction.rollback()


async def tamper(owner_conn: Connection, sql: str, *args: object) -> None:
    """Change rows as a superuser would: past the insert-only triggers."""
    async with owner_conn.transaction():
        await owner_conn.execute("SET LOCAL session_replication_role = replica")
        await owner_conn.execute(sql, *args)


async def test_an_untouched_trail_verifies(conn: Connection) -> None:
    await write_and_seal(conn, 25, batch=10)
    report = await verify(conn)
    assert report.ok, report.problem
    assert (report.checkpoints, report.sealed, report.pending, report.head_seq) == (3, 25, 0, 3)


async def test_entries_await_sealing_and_count_as_pending(conn: Connection) -> None:
    await record(conn, entry(1))
    report = await verify(conn)
    assert report.ok
    assert (report.sealed, report.pending, report.head_seq) == (0, 1, None)


async def test_verifying_writes_nothing(conn: Connection) -> None:
    await write_and_seal(conn, 3)
    await record(conn, entry(4))
    await verify(conn)
    assert await conn.fetchval("SELECT count(*) FROM audit_checkpoints") == 1
    assert (await verify(conn)).pending == 1


async def test_checkpoints_chain_and_carry_a_signature(conn: Connection) -> None:
    await write_and_seal(conn, 4, batch=2)
    first, second = [
        read_checkpoint(t, KEYS)
        for t in await conn.fetchval("SELECT array_agg(token ORDER BY seq) FROM audit_checkpoints")
    ]
    assert first.checkpoint.prev == "00" * 32
    assert second.checkpoint.prev == first.hash.hex()
    assert (second.checkpoint.count, second.checkpoint.size, second.kid) == (2, 4, "audit-test")


async def test_the_database_refuses_to_change_entries_or_checkpoints(owner_conn: Connection) -> None:
    """Even the schema's owner is refused, by the triggers: only disabling them gets past."""
    await write_and_seal(owner_conn, 2)
    for sql in (
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_checkpoints SET size = 1",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="insert-only"):
            await owner_conn.execute(sql)


async def test_an_insert_cannot_choose_its_position(conn: Connection) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="assigned by the database"):
        await conn.execute(
            "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash, position)"
            " VALUES (gen_random_uuid(), now(), 'a', 'b', '{}', '{}', '\\x00', 1)"
        )


async def test_an_edited_entry_is_detected_and_named(conn: Connection, owner_conn: Connection) -> None:
    await write_and_seal(conn, 10, batch=4)
    entry_id = await conn.fetchval("SELECT id FROM audit_log ORDER BY position OFFSET 5 LIMIT 1")
    await tamper(owner_conn, 'UPDATE audit_log SET detail = \'{"ids": ["forged"]}\' WHERE id = $1', entry_id)
    report = await verify(conn)
    assert not report.ok
    assert (report.broken_at, report.checkpoints, report.entry_id) == (2, 1, str(entry_id))


async def test_an_edit_with_a_recomputed_content_hash_is_still_detected(
    conn: Connection, owner_conn: Connection
) -> None:
    await write_and_seal(conn, 5)
    row = await audit_store.fetch_entry(conn, await conn.fetchval("SELECT id FROM audit_log WHERE position = 3"))
    assert row is not None
    forged = hashlib.sha256(entry_document(msgspec.structs.replace(row, action="forged"))).digest()
    await tamper(owner_conn, "UPDATE audit_log SET action = 'forged', content_hash = $1 WHERE id = $2", forged, row.id)
    report = await verify(conn)
    assert not report.ok
    assert report.broken_at == 1
    assert "Merkle root" in (report.problem or "")


async def test_a_deleted_entry_is_detected(conn: Connection, owner_conn: Connection) -> None:
    await write_and_seal(conn, 10, batch=5)
    await tamper(owner_conn, "DELETE FROM audit_log WHERE position = (SELECT min(position) + 6 FROM audit_log)")
    report = await verify(conn)
    assert not report.ok
    assert report.broken_at == 2


async def test_an_entry_slipped_into_a_sealed_range_is_detected(conn: Connection, owner_conn: Connection) -> None:
    await record_many(conn, [entry(1)])
    await rolled_back(conn, entry(2))
    await write_and_seal(conn, 2)
    await tamper(
        owner_conn,
        "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash, position)"
        " VALUES (gen_random_uuid(), now(), 'key:x', 'forged', '{}', '{}', '\\x00', (SELECT min(position) + 1"
        " FROM audit_log))",
    )
    report = await verify(conn)
    assert not report.ok
    assert report.broken_at == 1


async def test_a_forged_checkpoint_is_detected(conn: Connection, owner_conn: Connection) -> None:
    """Someone with the database but not the audit key re-signs a rewritten range with a key of their own."""
    await write_and_seal(conn, 3)
    row = await conn.fetchrow("SELECT * FROM audit_checkpoints")
    assert row is not None
    stated = read_checkpoint(row["token"], KEYS).checkpoint
    # Same kid, another key: the signature cannot verify against the published audit key.
    forged = sign_checkpoint(
        msgspec.structs.replace(stated, root="00" * 32), parse_signing_keys(generate_signing_key_entry("audit-test"))
    )
    await tamper(owner_conn, "UPDATE audit_checkpoints SET token = $1, checkpoint_hash = $2", forged.token, forged.hash)
    report = await verify(conn)
    assert not report.ok
    assert report.broken_at == 1
    assert "signature" in (report.problem or "")


async def test_a_deleted_checkpoint_is_detected(conn: Connection, owner_conn: Connection) -> None:
    await write_and_seal(conn, 6, batch=2)
    await tamper(owner_conn, "DELETE FROM audit_checkpoints WHERE seq = 2")
    report = await verify(conn)
    assert not report.ok
    assert report.broken_at == 2


async def test_truncation_is_found_only_against_a_head_kept_elsewhere(conn: Connection, owner_conn: Connection) -> None:
    await write_and_seal(conn, 6, batch=2)
    kept = await verify(conn)
    assert kept.ok
    assert kept.head_hash is not None
    await tamper(
        owner_conn,
        "DELETE FROM audit_log WHERE position > (SELECT last_position FROM audit_checkpoints WHERE seq = 2)",
    )
    await tamper(owner_conn, "DELETE FROM audit_checkpoints WHERE seq = 3")
    assert (await verify(conn)).ok  # a shorter trail is still a consistent one
    report = await verify(conn, head=bytes.fromhex(kept.head_hash))
    assert not report.ok
    assert "truncated" in (report.problem or "")


async def test_an_older_head_kept_elsewhere_still_verifies(conn: Connection) -> None:
    await write_and_seal(conn, 2)
    kept = (await verify(conn)).head_hash
    assert kept is not None
    await write_and_seal(conn, 2)
    assert (await verify(conn, head=bytes.fromhex(kept))).ok


async def test_a_rotated_audit_key_keeps_old_checkpoints_verifiable(conn: Connection) -> None:
    await write_and_seal(conn, 2)
    rotated = parse_signing_keys(generate_signing_key_entry("audit-next") + "," + generate_signing_key_entry("x"))
    both = SigningKeyRing([rotated.current, KEYS.current])
    await record_many(conn, [entry(9)])
    await seal_all(conn, Sealer(both))
    assert (await verify(conn, keys=both)).ok
    assert not (await verify(conn, keys=KEYS)).ok  # the new checkpoint is not signed by the old key


async def test_an_inclusion_proof_verifies_against_the_checkpoint(conn: Connection) -> None:
    await write_and_seal(conn, 7)
    entry_id = await conn.fetchval("SELECT id FROM audit_log ORDER BY position OFFSET 4 LIMIT 1")
    proof = await prove_entry(conn, entry_id)
    stated = read_checkpoint(proof.checkpoint, KEYS).checkpoint
    path = [bytes.fromhex(node) for node in proof.path]
    assert json.loads(proof.entry)["id"] == str(entry_id)
    assert verify_inclusion(
        leaf_hash(hashlib.sha256(proof.entry.encode()).digest()),
        proof.leaf_index,
        proof.tree_size,
        path,
        bytes.fromhex(stated.root),
    )


async def test_a_transaction_still_open_holds_back_sealing_but_loses_nothing(database_url: str) -> None:
    """Positions commit out of order: the entry of a long transaction is sealed after it commits, in place."""
    slow, fast, sealing = [await connect(database_url) for _ in range(3)]
    try:
        sealer = Sealer(KEYS)
        open_transaction = slow.transaction()
        await open_transaction.start()
        await record(slow, entry(1))  # draws the lower position, commits last
        await record(fast, entry(2))
        for _ in range(3):
            assert await sealer.seal(sealing) == 0
        await open_transaction.commit()
        assert await seal_all(sealing, sealer) == 2
        report = await verify(sealing)
        assert report.ok, report.problem
        assert (report.sealed, report.pending) == (2, 0)
    finally:
        for c in (slow, fast, sealing):
            await c.close()


async def test_concurrent_writers_and_sealers_leave_no_entry_outside_a_checkpoint(database_url: str) -> None:
    connections = [await connect(database_url) for _ in range(6)]
    try:

        async def writer(c: Connection, n: int) -> None:
            for i in range(20):
                async with c.transaction():
                    await record(c, entry(n * 100 + i))
                    await asyncio.sleep(0)
                if i % 7 == 3:
                    await rolled_back(c, entry(-1))

        async def sealer(c: Connection) -> None:
            instance = Sealer(KEYS, batch=7)
            for _ in range(30):
                await instance.seal(c)
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(c, n) for n, c in enumerate(connections[:4])), *map(sealer, connections[4:]))
        await seal_all(connections[0])
        report = await verify(connections[0])
        assert report.ok, report.problem
        assert (report.sealed, report.pending) == (80, 0)
    finally:
        for c in connections:
            await c.close()
