"""The database connections one instance holds, checked at start-up against what the server allows.

Each worker process holds its pool and, beside it, connections of its own: the LISTEN connection of
the cache invalidations, the consent writer's (one per batch committing at once), the check path's
cold reads and the one that receives requests (`consent.service.requests.receipt_batches`). A
server that runs out of connections refuses them under load, not at start-up; `consent serve` asks
the server first and refuses to start when the instance would not fit, naming the settings to change.

    budget = connection_budget(settings)
    check_connection_budget(budget, await server_connections(conn))   # ConfigError if it does not fit
"""

from __future__ import annotations

import msgspec

from consent.config import ConfigError, Settings
from consent.service.checking.cold_reads import SLOTS as COLD_READ_SLOTS
from consent.store.pool import ServerConnections

__all__ = ["ConnectionBudget", "check_connection_budget", "connection_budget", "replica_connection_budget"]


class ConnectionBudget(msgspec.Struct, kw_only=True, frozen=True):
    """The most connections an instance opens, per worker and in all, to the server directly."""

    workers: int
    per_worker: dict[str, int]  # what each worker holds, by what holds it ("pool (CONSENT_POOL_MAX_SIZE)": 10)
    pooled: bool  # behind PgBouncer: only the LISTEN connections reach the server directly

    @property
    def direct_per_worker(self) -> int:
        return self.per_worker["listener"] if self.pooled else sum(self.per_worker.values())

    @property
    def total(self) -> int:
        return self.workers * self.direct_per_worker


def connection_budget(settings: Settings) -> ConnectionBudget:
    """What an instance holds on the primary. With a read replica, the check path's cold reads keep
    their own primary connections for when the replica cannot answer (the writer's stay apart), and
    the replica's watch one to read the primary's WAL position."""
    per_worker = {
        "pool (CONSENT_POOL_MAX_SIZE)": settings.pool_max_size,
        "consent writer (CONSENT_WRITE_CONCURRENCY)": settings.write_concurrency,
        "cold reads": COLD_READ_SLOTS,
        "request receipts": 1,
        "listener": 1,
    }
    if settings.database_replica_url is not None:
        per_worker["cold reads"] = 2 * COLD_READ_SLOTS
        per_worker["replica watch"] = 1
    return ConnectionBudget(workers=settings.worker_count, per_worker=per_worker, pooled=settings.pooled)


def replica_connection_budget(settings: Settings) -> ConnectionBudget:
    """What an instance holds on the read replica (DATABASE_REPLICA_URL), always directly."""
    return ConnectionBudget(
        workers=settings.worker_count,
        per_worker={
            "replica pool (CONSENT_POOL_MAX_SIZE)": settings.pool_max_size,
            "cold reads": COLD_READ_SLOTS,
            "replica watch": 1,
        },
        pooled=False,
    )


def check_connection_budget(budget: ConnectionBudget, server: ServerConnections) -> None:
    """ConfigError, naming the settings to change, when `budget` does not fit what `server` has left."""
    if budget.total <= server.available:
        return
    if budget.pooled:
        held = "1 LISTEN connection each, directly (DATABASE_SESSION_URL)"
        fix = "lower CONSENT_WORKERS"
    else:
        held = "(" + " + ".join(f"{count} {name}" for name, count in budget.per_worker.items()) + ")"
        fix = (
            "lower CONSENT_WORKERS, CONSENT_POOL_MAX_SIZE or CONSENT_WRITE_CONCURRENCY, or put PgBouncer in"
            " transaction mode in front of the server (DATABASE_SESSION_URL; see docs/operations.md)"
        )
    reserved = f"superuser_reserved_connections {server.superuser_reserved_connections}"
    if server.reserved_connections:
        reserved += f" - reserved_connections {server.reserved_connections}"
    raise ConfigError(
        f"this instance needs up to {budget.total} database connections ({budget.workers} workers x {held}), "
        f"but the server has {max(server.available, 0)} left (max_connections {server.max_connections} - "
        f"{reserved} - {server.in_use} in use): raise max_connections on the server, or {fix}"
    )
