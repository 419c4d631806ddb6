"""Migration 0012 keeps the entries of a trail written under the old per-row hash chain, in order."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from consent.service.audit import AuditEntry, entry_rows
from consent.service.audit_sealing import Sealer
from consent.service.audit_verification import verify_trail
from consent.store.migrate import apply_migrations, discover_migrations
from consent.store.pool import Connection, connect
from crypto import generate_signing_key_entry, parse_signing_keys
from tests.helpers import with_database

KEYS = parse_signing_keys(generate_signing_key_entry("audit-migration"))


@pytest.fixture
async def old_schema(admin_url: str) -> AsyncIterator[Connection]:
    """A database migrated up to the version before the signed checkpoints, as the owner."""
    name = f"before_0012_{os.getpid()}_{id(object())}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await connect(with_database(admin_url, name))
    await apply_migrations(conn, [m for m in discover_migrations() if m.version < 12])
    yield conn
    await conn.close()
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_old_sealed_and_pending_entries_are_kept_in_order_and_sealed_again(old_schema: Connection) -> None:
    conn = old_schema
    insert = (
        "INSERT INTO audit_log (id, recorded_at, actor, action, target, detail, content_hash, seq)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    now = datetime.now(UTC)
    # Two sealed under the old chain (the later one first in time), then one still pending.
    for action, age, seq in (("old.second", 10, 2), ("old.first", 20, 1), ("old.pending", 30, None)):
        [row] = entry_rows([AuditEntry(actor="key:old", action=action)], now - timedelta(seconds=age))
        await conn.execute(insert, *msgspec.structs.astuple(row), seq)
    await apply_migrations(conn)
    actions = await conn.fetch("SELECT action, position FROM audit_log ORDER BY position")
    assert [(r["action"], r["position"]) for r in actions] == [("old.first", 1), ("old.second", 2), ("old.pending", 3)]
    assert await conn.fetchval("SELECT nextval('audit_log_position')") == 4
    sealer = Sealer(KEYS)
    for _ in range(3):  # a fresh sealer may need a round to see its horizon pass
        await sealer.seal(conn)
    report = await verify_trail(conn, KEYS.public_keys)
    assert report.ok, report.problem
    assert (report.sealed, report.pending) == (3, 0)
