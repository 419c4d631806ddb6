import asyncio

import asyncpg
import pytest

from consent.service.audit import AuditEntry, content_hash, record, record_many, seal_pending, verify_chain
from consent.store.pool import Connection, connect


def entry(n: int) -> AuditEntry:
    return AuditEntry(actor="key:test", action="test.action", target={"n": n}, detail={"ids": [str(n)]})


async def write_and_seal(conn: Connection, count: int) -> None:
    await record_many(conn, [entry(n) for n in range(count)])
    while await seal_pending(conn):
        pass


async def tamper(conn: Connection, sql: str, *args: object) -> None:
    """Change rows as an attacker with database access would: past the append-only triggers."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)


async def test_an_untouched_chain_verifies(conn: Connection) -> None:
    await write_and_seal(conn, 25)
    report = await verify_chain(conn)
    assert report.ok
    assert (report.sealed, report.pending, report.head_seq) == (25, 0, 25)


async def test_entries_await_sealing_and_count_as_pending(conn: Connection) -> None:
    await record(conn, entry(1))
    report = await verify_chain(conn)
    assert report.ok
    assert (report.sealed, report.pending) == (0, 1)


async def test_sealing_continues_the_chain_across_batches(conn: Connection) -> None:
    await write_and_seal(conn, 3)
    await record_many(conn, [entry(n) for n in range(7)])
    assert await seal_pending(conn, batch=5) == 5
    assert await seal_pending(conn, batch=5) == 2
    report = await verify_chain(conn)
    assert report.ok
    assert report.sealed == 10


async def test_the_database_refuses_to_update_or_delete_entries(conn: Connection) -> None:
    await write_and_seal(conn, 2)
    with pytest.raises(asyncpg.RaiseError, match="cannot be changed"):
        await conn.execute("UPDATE audit_log SET action = 'x' WHERE seq = 1")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM audit_log WHERE seq = 1")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("TRUNCATE audit_log")


async def test_an_edited_entry_is_detected(conn: Connection) -> None:
    await write_and_seal(conn, 10)
    await tamper(conn, 'UPDATE audit_log SET detail = \'{"ids": ["forged"]}\' WHERE seq = 4')
    report = await verify_chain(conn)
    assert not report.ok
    assert report.broken_at == 4
    assert report.problem is not None
    assert "edited" in report.problem


async def test_an_edited_actor_is_detected(conn: Connection) -> None:
    await write_and_seal(conn, 5)
    await tamper(conn, "UPDATE audit_log SET actor = 'key:someone-else' WHERE seq = 2")
    assert (await verify_chain(conn)).broken_at == 2


async def test_a_deleted_entry_is_detected(conn: Connection) -> None:
    await write_and_seal(conn, 10)
    await tamper(conn, "DELETE FROM audit_log WHERE seq = 6")
    report = await verify_chain(conn)
    assert not report.ok
    assert report.broken_at == 6
    assert report.problem is not None
    assert "missing" in report.problem


async def test_a_deleted_tail_is_detected(conn: Connection) -> None:
    await write_and_seal(conn, 10)
    await tamper(conn, "DELETE FROM audit_log WHERE seq >= 9")
    report = await verify_chain(conn)
    assert not report.ok
    assert report.sealed == 8


async def test_a_recomputed_forgery_is_detected(conn: Connection) -> None:
    """Rewriting an entry together with its content hash still breaks the next link."""
    await write_and_seal(conn, 5)
    row = await conn.fetchrow("SELECT * FROM audit_log WHERE seq = 3")
    assert row is not None
    forged = content_hash(
        row["id"],
        recorded_at=row["recorded_at"],
        actor=row["actor"],
        action="forged",
        target=row["target"],
        detail=row["detail"],
    )
    await tamper(conn, "UPDATE audit_log SET action = 'forged', content_hash = $1 WHERE seq = 3", forged)
    report = await verify_chain(conn)
    assert not report.ok
    assert report.broken_at == 3


async def test_an_edited_pending_entry_is_detected(conn: Connection) -> None:
    await record(conn, entry(1))
    await tamper(conn, "UPDATE audit_log SET action = 'other'")
    assert not (await verify_chain(conn)).ok


async def test_concurrent_writers_and_sealers_build_one_linear_chain(database_url: str) -> None:
    connections = [await connect(database_url) for _ in range(6)]
    try:

        async def writer(c: Connection, n: int) -> None:
            for i in range(20):
                async with c.transaction():
                    await record(c, entry(n * 100 + i))

        async def sealer(c: Connection) -> None:
            for _ in range(30):
                await seal_pending(c, batch=7)
                await asyncio.sleep(0)

        await asyncio.gather(*(writer(c, n) for n, c in enumerate(connections[:4])), *map(sealer, connections[4:]))
        while await seal_pending(connections[0]):
            pass
        report = await verify_chain(connections[0])
        assert report.ok
        assert (report.sealed, report.pending) == (80, 0)
    finally:
        for c in connections:
            await c.close()
