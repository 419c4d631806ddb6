"""Connection pools and codecs: one asyncpg pool per process.

JSONB travels through msgspec in binary format (a version byte and the JSON
text), so no `json` module and no text round trip is involved.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "CONNECT_TIMEOUT",
    "Connection",
    "DatabaseError",
    "DatabaseUnavailable",
    "HeldConnections",
    "Pool",
    "Record",
    "ServerConnections",
    "connect",
    "create_pool",
    "database_unreachable",
    "server_connections",
    "transaction",
]

Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
# What store functions take: a plain connection or one borrowed from the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# A driver row: only `consent.store` reads them; it hands the service typed rows instead.
Record: TypeAlias = asyncpg.Record
# What the service may catch without knowing the driver: a statement PostgreSQL refused, and a
# connection that is gone or unusable.
DatabaseError: TypeAlias = asyncpg.PostgresError
DatabaseUnavailable: TypeAlias = asyncpg.InterfaceError

_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder().decode
_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + _encode(value)


def _decode_jsonb(data: bytes) -> Any:
    return _decode(data[1:])


async def _setup_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )
    await conn.set_type_codec(
        "json",
        schema="pg_catalog",
        encoder=lambda v: _encode(v).decode(),
        decoder=_decode,
        format="text",
    )


@contextlib.asynccontextmanager
async def transaction(conn: Connection | Pool) -> AsyncIterator[Connection]:
    """A transaction on `conn`, or on a connection borrowed from it when it is the pool.

    What a use case runs its writes in: the API hands it the pool, the CLI its one connection.

        async with transaction(pool) as conn:
            await conn.execute("...")
    """
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as borrowed, borrowed.transaction():
            yield borrowed
    else:
        async with conn.transaction():
            yield conn


@contextlib.asynccontextmanager
async def in_index_order(conn: Connection | Pool) -> AsyncIterator[Connection]:
    """A transaction whose statements may not sort: an `ORDER BY ... LIMIT` reads an index in order.

    What a queue's lease runs in (`jobs`, `outbox`). The planner prices a sort by the table's
    statistics, and a queue's are stale exactly when it matters: after a burst of thousands of new
    rows into a table that was analyzed nearly empty, it expected a handful of due rows and chose to
    collect and sort them all, so every lease cost time in proportion to the backlog (2 to 3 ms with
    5,000 requests waiting, twenty times a second per instance). With sorting priced out, the only
    plan left is the due index in order, which stops after `LIMIT` rows whatever the backlog.
    """
    async with transaction(conn) as held:
        await held.execute("SET LOCAL enable_sort = off")
        yield held


async def fetch_in_index_order(conn: Connection, statement: str, *args: object) -> list[asyncpg.Record]:
    """`statement`'s rows, planned with sorting priced out (as `in_index_order`), in the caller's
    transaction; the rest of that transaction is planned as usual (a failed fetch aborts it, and
    the setting goes with it)."""
    await conn.execute("SET LOCAL enable_sort = off")
    rows = await conn.fetch(statement, *args)
    await conn.execute("SET LOCAL enable_sort = on")
    return rows


async def _reset(conn: asyncpg.Connection) -> None:
    """Release a connection to the pool, mostly without a round trip.

    asyncpg's default reset runs `RESET ALL; UNLISTEN *; ...` on every release,
    one round trip per use. Our code never leaves session state behind
    (listeners use their own connection, advisory locks are transaction-scoped),
    and asyncpg itself still rolls back an abandoned transaction before calling
    this hook, so all that is left is to refresh the plans when they are due.
    """
    await refresh_plans_when_due(conn)


async def _keep(conn: asyncpg.Connection) -> None:
    """Release a connection to PgBouncer's pool as it is: no plans to refresh, nothing else to reset."""


# PostgreSQL plans a prepared statement with the table sizes of that moment and plans it again
# only when the table is analyzed. Between two runs of autovacuum (the first comes a minute or
# more after a table starts filling, then at every 10 % of growth) a growing table keeps plans
# made when it was small: on a young database, lookups by key scan whole tables. A service that
# has just been deployed, and every benchmark, lives in that state. So each connection drops its
# plans every few seconds; the next execution of each statement plans it again with the table
# sizes of the day, a fraction of a millisecond per statement.
PLAN_REFRESH_SECONDS = 2.0
_planned_at: weakref.WeakKeyDictionary[asyncpg.Connection[asyncpg.Record], float] = weakref.WeakKeyDictionary()


async def refresh_plans_when_due(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """`DISCARD PLANS` on `conn` if its plans are older than `PLAN_REFRESH_SECONDS`."""
    now = time.monotonic()
    planned_at = _planned_at.setdefault(conn, now)
    if now - planned_at >= PLAN_REFRESH_SECONDS:
        _planned_at[conn] = now
        await conn.execute("DISCARD PLANS")


# Every statement the service runs looks rows up by key, with arrays of keys to `unnest`. With
# the default plan cache mode PostgreSQL keeps planning such statements afresh on every
# execution (a custom plan knows the array's length, so it always looks cheaper than the generic
# one); for the batch write that was about 0.3 ms of planning per commit. The generic plan is the
# same index lookups, planned once per connection.
#
# Sessions run in UTC whatever the server's default: timestamps without an offset (a client's
# `client_at` may have none) reach PostgreSQL as JSON text in the batch write, and asyncpg's own
# binary encoding reads such values as UTC too.
_SERVER_SETTINGS = {"plan_cache_mode": "force_generic_plan", "timezone": "UTC"}

# Behind PgBouncer in transaction mode (`pooled`), consecutive transactions of one client connection
# may run on different server sessions. PgBouncer 1.18 (Debian 12's) keeps no prepared statement
# across them, so asyncpg must not cache any (`statement_cache_size=0`: each statement is parsed on
# the session that runs it, planned for its parameters; `DISCARD PLANS` has nothing to drop), and
# it refuses startup parameters it does not know, such as `plan_cache_mode`, while it passes the
# time zone on to every server session it lends. What needs a session of its own (LISTEN, the
# migrations' advisory lock) connects to PostgreSQL directly (`DATABASE_SESSION_URL`).
_POOLED_SETTINGS = {"timezone": "UTC"}


# asyncpg's own default: how long opening a connection may take. Connections to a replica, which
# the service can do without, are given much less (`consent.service.replica`).
CONNECT_TIMEOUT = 60.0


def _options(pooled: bool) -> dict[str, Any]:
    if pooled:
        return {"server_settings": _POOLED_SETTINGS, "statement_cache_size": 0}
    return {"server_settings": _SERVER_SETTINGS}


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, pooled: bool = False, connect_timeout: float = CONNECT_TIMEOUT
) -> asyncpg.Pool:
    """Create the process's pool; each connection gets the JSON codecs. `pooled`: `url` is PgBouncer's.
    `connect_timeout`: seconds a new connection may take (with `min_size=0` none is opened here)."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_setup_connection,
        reset=_keep if pooled else _reset,
        timeout=connect_timeout,
        **_options(pooled),
    )
    assert pool is not None
    return pool


async def connect(
    url: str, *, pooled: bool = False, connect_timeout: float = CONNECT_TIMEOUT
) -> asyncpg.Connection[asyncpg.Record]:
    """A single connection with the same codecs (CLI commands, listeners, migrations)."""
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(url, timeout=connect_timeout, **_options(pooled))
    await _setup_connection(conn)
    return conn


class ServerConnections(msgspec.Struct, kw_only=True, frozen=True):
    """The server's connection limits, and how many client connections it holds now."""

    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int  # PostgreSQL 16's reserve for pg_use_reserved_connections; 0 before
    in_use: int  # client connections other than the asking one

    @property
    def available(self) -> int:
        reserved = self.superuser_reserved_connections + self.reserved_connections
        return self.max_connections - reserved - self.in_use


async def server_connections(conn: Connection) -> ServerConnections:
    """What `conn`'s server allows and holds (`pg_stat_activity` lists every session, whoever asks)."""
    row = await conn.fetchrow(
        """
        SELECT current_setting('max_connections')::int AS max_connections,
               current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,
               coalesce(current_setting('reserved_connections', true), '0')::int AS reserved_connections,
               (SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())::int AS in_use
        """
    )
    assert row is not None
    return ServerConnections(**dict(row))


# SQLSTATE classes after which a session is not worth keeping: connection exceptions (08) and
# operator intervention (57: the server shutting down, the backend terminated).
_SESSION_LOST = ("08", "57")
# Beside those, insufficient resources (53: too many connections, out of memory or disk).
_OUTAGE = (*_SESSION_LOST, "53")


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc` says the database is out of reach (stopped, restarting, unreachable, full of
    connections) rather than that it refused a statement: a moment's outage, not a fault of the request."""
    if isinstance(exc, asyncpg.PostgresError):
        return exc.sqlstate is not None and exc.sqlstate[:2] in _OUTAGE
    return isinstance(exc, OSError)  # refused, reset, timed out (TimeoutError is an OSError)


class HeldConnections:
    """Connections of one hot path, opened once and lent to it again and again, outside the pool.

    Borrowing a connection from an asyncpg pool and giving it back costs 60 to 90 µs of CPU per
    statement (a proxy object, a task per release, an idle timer): as much as the statement's
    own round trip. The consent writer and the check path's cold reads run thousands of
    statements a second, each on a few connections at most (their own slots bound how many
    leases are out), so each keeps its own. A connection that broke, was cancelled mid-statement
    or is left inside a transaction is closed; the next lease opens a new one.
    """

    def __init__(self, url: str, *, pooled: bool = False, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._url = url
        self._pooled = pooled
        self._connect_timeout = connect_timeout
        self._idle: list[asyncpg.Connection[asyncpg.Record]] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
        while self._idle and self._idle[-1].is_closed():
            self._idle.pop()  # the server ended it while idle (a restart, a fast shutdown): not worth a try
        conn = (
            self._idle.pop()
            if self._idle
            else await connect(self._url, pooled=self._pooled, connect_timeout=self._connect_timeout)
        )
        try:
            if not self._pooled:
                await refresh_plans_when_due(conn)
            yield conn
        except asyncpg.PostgresError as exc:
            if exc.sqlstate[:2] in _SESSION_LOST:
                conn.terminate()
            else:
                self._give_back(conn)  # the server refused a statement; the session is fine
            raise
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError):
            conn.terminate()  # the connection broke, or a statement timed out
            raise
        except Exception:
            self._give_back(conn)  # the caller's own error, between statements
            raise
        except BaseException:
            conn.terminate()  # cancelled, perhaps mid-statement
            raise
        self._give_back(conn)

    def _give_back(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        if conn.is_closed():
            return
        if self._closed or conn.is_in_transaction():
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Close the idle connections; one still lent out is closed when it comes back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
