"""Positions in the write-ahead log: how far the primary has written, how far a replica has replayed.

Positions are plain integers (bytes since the start of the log), so the service compares them
without knowing PostgreSQL's `X/Y` text form.
"""

from __future__ import annotations

import asyncpg

from consent.store.pool import Connection

__all__ = ["cancelled_by_recovery", "connection_lost", "inserted_position", "replayed_position"]

_RECOVERY_CONFLICT = "40001"  # a standby cancels a query that holds back its replay


def cancelled_by_recovery(exc: BaseException) -> bool:
    """True when a replica cancelled the statement for a conflict with its recovery."""
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == _RECOVERY_CONFLICT


def connection_lost(exc: BaseException) -> bool:
    """True when the driver lost or closed its connection (the server may still be up)."""
    return isinstance(exc, asyncpg.InterfaceError)


async def inserted_position(conn: Connection) -> int:
    """The primary's WAL insert position: at or after the commit record of every transaction that has
    committed (whether or not it waited for its flush: with `synchronous_commit = off` the write and
    flush positions may still be before it)."""
    position: int = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
    return position


async def replayed_position(conn: Connection) -> int | None:
    """How far a streaming replica has replayed: everything committed before this position is visible
    to the queries it starts from now on. None when `conn` is not a replica (not in recovery)."""
    position: int | None = await conn.fetchval(
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END"
    )
    return position
