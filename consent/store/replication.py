"""Positions in the write-ahead log: how far the primary has written, how far a replica has replayed.

Positions are plain integers (bytes since the start of the log), so the service compares them
without knowing PostgreSQL's `X/Y` text form.
"""

from __future__ import annotations

import asyncpg

from consent.store.pool import Connection

__all__ = ["cancelled_by_recovery", "connection_lost", "inserted_position", "record_end", "replayed_position"]

_RECOVERY_CONFLICT = "40001"  # a standby cancels a query that holds back its replay


def cancelled_by_recovery(exc: BaseException) -> bool:
    """True when a replica cancelled the statement for a conflict with its recovery."""
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == _RECOVERY_CONFLICT


def connection_lost(exc: BaseException) -> bool:
    """True when the driver lost or closed its connection (the server may still be up)."""
    return isinstance(exc, asyncpg.InterfaceError)


# Every WAL page begins with a header: the first page of a segment with the long one.
_SHORT_PAGE_HEADER = 24  # PostgreSQL's SizeOfXLogShortPHD
_LONG_PAGE_HEADER = 40  # SizeOfXLogLongPHD


def record_end(position: int, *, block_size: int, segment_size: int) -> int:
    """`position` where the last record ends. When that record filled its page to the end, the insert
    position points past the next page's header, while a replica that replayed it reports the page
    boundary: compared as they are, an idle replica would read as behind for good."""
    if position % segment_size == _LONG_PAGE_HEADER:
        return position - _LONG_PAGE_HEADER
    if position % block_size == _SHORT_PAGE_HEADER:
        return position - _SHORT_PAGE_HEADER
    return position


async def inserted_position(conn: Connection) -> int:
    """The end of the primary's last WAL record: at or after the commit record of every transaction
    that has committed (whether or not it waited for its flush: with `synchronous_commit = off` the
    write and flush positions may still be before it), and where a replica that replayed it stands."""
    row = await conn.fetchrow(
        """SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint AS position,
                  current_setting('wal_block_size')::int AS block_size,
                  pg_size_bytes(current_setting('wal_segment_size')) AS segment_size"""
    )
    assert row is not None
    return record_end(row["position"], block_size=row["block_size"], segment_size=row["segment_size"])


async def replayed_position(conn: Connection) -> int | None:
    """How far a streaming replica has replayed: everything committed before this position is visible
    to the queries it starts from now on. None when `conn` is not a replica (not in recovery)."""
    position: int | None = await conn.fetchval(
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END"
    )
    return position
