"""The database roles of least privilege: the schema's owner runs migrations, the service only reads and writes.

Migration 0013 grants the group role `consent_service` what the service needs
(rows, never DDL; no UPDATE or DELETE on the audit trail or consent events).
The service logs in as a member of it. On an external server an operator creates
the login roles (docs/operations.md); the embedded server gets them here, as its
superuser, which also owns the schema and runs the migrations.

>>> await ensure_service_login(admin_conn, EMBEDDED_SERVICE_USER)
"""

from __future__ import annotations

import contextlib

import asyncpg

from consent.store.pool import Connection

__all__ = ["EMBEDDED_SERVICE_USER", "SERVICE_GROUP", "ensure_service_login"]

SERVICE_GROUP = "consent_service"
EMBEDDED_SERVICE_USER = "consent_app"


async def ensure_service_login(conn: Connection, user: str, *, password: str | None = None) -> None:
    """Create the group role and `user`, a login role in it, unless they exist (needs CREATEROLE)."""
    exists = "SELECT 1 FROM pg_roles WHERE rolname = $1"
    # Two processes starting at once may both find a role missing: the second CREATE is the one to ignore.
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
        if not await conn.fetchval(exists, SERVICE_GROUP):
            await conn.execute(f"CREATE ROLE {SERVICE_GROUP} NOLOGIN")
    with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
        if not await conn.fetchval(exists, user):
            # Role names are identifiers, not parameters; quote_ident makes any name safe to splice.
            quoted = await conn.fetchval("SELECT quote_ident($1)", user)
            secret = await conn.fetchval("SELECT quote_literal($1)", password) if password is not None else "NULL"
            await conn.execute(f"CREATE ROLE {quoted} LOGIN PASSWORD {secret} IN ROLE {SERVICE_GROUP}")
