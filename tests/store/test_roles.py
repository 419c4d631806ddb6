"""Least privilege: the service's role reads and writes rows, and nothing else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from consent.cli._context import databases
from consent.config import load_settings
from consent.service.audit import AuditEntry, record
from consent.store.migrate import apply_migrations
from consent.store.pool import Connection, connect


async def test_the_service_role_owns_nothing_and_is_no_superuser(conn: Connection) -> None:
    row = await conn.fetchrow(
        "SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,"
        " pg_has_role(current_user, 'consent_service', 'member') AS member,"
        " (SELECT count(*) FROM pg_class c WHERE pg_has_role(current_user, c.relowner, 'usage')"
        "   AND c.relnamespace = 'public'::regnamespace) AS owned"
        " FROM pg_roles r WHERE r.rolname = current_user"
    )
    assert row is not None
    assert dict(row) == {
        "rolsuper": False, "rolcreaterole": False, "rolcreatedb": False, "rolbypassrls": False, "member": True,
        "owned": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_insert_only",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_insert_only ON audit_log",
        "ALTER TABLE audit_log ADD COLUMN note text",
        "ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoints_insert_only",
        "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger"
        " LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
        "DROP TABLE audit_log",
        "CREATE TABLE notes (id int)",
        "SET session_replication_role = replica",
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_checkpoints SET size = 0",
        "DELETE FROM audit_checkpoints",
        "UPDATE consent_events SET status = 'granted'",
        "DELETE FROM consent_events",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'x', 'x')",
        "DELETE FROM schema_migrations",
    ],
)
async def test_the_service_role_cannot_change_the_schema_nor_rewrite_history(conn: Connection, sql: str) -> None:
    await record(conn, AuditEntry(actor="key:test", action="test.action"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(sql)
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


def test_the_embedded_default_runs_the_service_as_its_own_role(tmp_path: Path) -> None:
    settings = load_settings({}, home=str(tmp_path / "home"))

    async def check(service_url: str, owner_url: str) -> tuple[str, bool]:
        owner = await connect(owner_url)
        try:
            await apply_migrations(owner)
        finally:
            await owner.close()
        service = await connect(service_url)
        try:
            user = await service.fetchval("SELECT current_user")
            try:
                await service.execute("ALTER TABLE audit_log DISABLE TRIGGER ALL")
            except asyncpg.InsufficientPrivilegeError:
                return user, False
            return user, True
        finally:
            await service.close()

    with databases(settings) as found:
        assert found.service != found.owner
        assert asyncio.run(check(found.service, found.owner)) == ("consent_app", False)
