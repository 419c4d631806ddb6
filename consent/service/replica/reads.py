"""Where a read goes: the streaming replica when it answers as the primary would, else the primary.

One place decides, for every read that may use a replica (`DATABASE_REPLICA_URL`): the check path's
cold reads (`consent.service.checking.cold_reads`), a subject's history, the change feed, the
request list and an export's rows. Writes, leases and the reads a write depends on never come here:
they use the pool.

A replica read is tried only while the replica is `ok` (`consent.service.replica.watch`) and this
process hears every write (its notification connection is up); it fails over to the primary at
once when the replica cannot be reached (marked down, probed in the background) or cancels the
statement for a conflict with its recovery. So a read never fails because of the replica.

    reads = Reads(pool, replica)              # replica: None without DATABASE_REPLICA_URL
    rows = await reads.run(lambda db: fetch_history(db, subject_id), subjects=[subject_id])
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar
from uuid import UUID

from consent.service.checking.state_cache import StateCache
from consent.service.replica.watch import ReplicaState, ReplicaWatch
from consent.service.subjects.identifiers import Subjects
from consent.store import consent_state as state_store
from consent.store.consent_state import Resolved
from consent.store.notifications import Notifications
from consent.store.pool import HeldConnections, Pool, create_pool, database_unreachable
from consent.store.replication import cancelled_by_recovery, connection_lost

__all__ = ["Reads", "Replica", "ReplicaState"]

T = TypeVar("T")

CONNECT_TIMEOUT = 1.0  # seconds: a replica that takes longer is marked down, and the primary answers


class Replica:
    """The replica's connections and its watch, for one process.

    Its pool opens connections only when a read wants one (`min_size=0`), so a replica that is down
    at start-up delays nothing. The cold reads have connections of their own, as on the primary.
    """

    def __init__(
        self,
        url: str,
        *,
        primary_url: str,
        pooled: bool,
        pool_size: int,
        notifications: Notifications,
        states: StateCache,
        subjects: Subjects,
        max_lag: float,
        wait: float,
    ) -> None:
        self._url = url
        self._pool_size = pool_size
        self._pool: Pool | None = None
        self._cold = HeldConnections(url, connect_timeout=CONNECT_TIMEOUT)  # leased at most `cold_reads.SLOTS` at once
        self._notifications = notifications
        self.watch = ReplicaWatch(primary_url, url, pooled=pooled, max_lag=max_lag, wait=wait, timeout=CONNECT_TIMEOUT)
        states.observe(self.watch.subject_changed, self.watch.anything_changed)
        subjects.observe(self.watch.identifiers_added, self.watch.identifiers_removed)
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ReplicaState:
        return self.watch.state

    async def start(self) -> None:
        self._pool = await create_pool(self._url, min_size=0, max_size=self._pool_size, connect_timeout=CONNECT_TIMEOUT)
        self._task = asyncio.create_task(self.watch.run(), name="replica-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._cold.close()
        await self.watch.close()
        if self._pool is not None:
            await self._pool.close()

    async def _covering(
        self, subject_ids: Collection[UUID], *, identifiers: bool = False, fresh: bool = False
    ) -> int | None:
        if not self._notifications.connected:
            return None  # another instance's write could go unheard: only the primary is sure
        return await self.watch.covering(subject_ids, identifiers=identifiers, fresh=fresh)

    def _failed_over(self, exc: Exception) -> bool:
        """Whether the primary should answer instead, after the replica failed a read with `exc`."""
        if cancelled_by_recovery(exc):
            return True
        if database_unreachable(exc) or connection_lost(exc):
            self.watch.lost()
            return True
        return False

    async def resolve(self, kinds: list[str], blind_indexes: list[bytes], subject_ids: list[UUID]) -> Resolved | None:
        """`consent_state.resolve` on the replica when it covers what these subjects and identifiers
        depend on (the subjects it finds included); None: ask the primary."""
        covered = await self._covering(subject_ids, identifiers=bool(kinds))
        if covered is None:
            return None
        try:
            async with self._cold.lease() as conn:
                found = await state_store.resolve(conn, kinds, blind_indexes, subject_ids)
        except Exception as exc:
            if self._failed_over(exc):
                return None
            raise
        held = {(candidate.kind, candidate.blind_index) for candidate in found.candidates}
        missing = len(held) < len(set(zip(kinds, blind_indexes, strict=True)))
        found_ids = [*found.states, *(candidate.subject_id for candidate in found.candidates)]
        return found if self.watch.still_covers(covered, found_ids, missing_identifier=missing) else None

    async def run(
        self, read: Callable[[Pool], Awaitable[T]], subject_ids: Collection[UUID], *, fresh: bool
    ) -> T | _Primary:
        if self._pool is None or await self._covering(subject_ids, fresh=fresh) is None:
            return PRIMARY
        try:
            return await read(self._pool)
        except Exception as exc:
            if self._failed_over(exc):
                return PRIMARY
            raise


class _Primary:
    """What `Replica.run` returns when the primary must answer."""


PRIMARY = _Primary()


class Reads:
    """Runs a read on the replica when it may answer, else on the primary's pool."""

    def __init__(self, primary: Pool, replica: Replica | None = None) -> None:
        self._primary = primary
        self.replica = replica

    @property
    def replica_state(self) -> ReplicaState | None:
        """`ok`, `lagging` or `down`; None without a replica."""
        return None if self.replica is None else self.replica.state

    async def run(
        self, read: Callable[[Pool], Awaitable[T]], *, subjects: Collection[UUID] = (), fresh: bool = False
    ) -> T:
        """`read(pool)` on the replica, covering the writes learned of `subjects` (`fresh`: and every
        write committed before this call), or on the primary. `read` runs once more on the primary
        when the replica failed it, so it must only read."""
        if self.replica is not None:
            answer = await self.replica.run(read, subjects, fresh=fresh)
            if not isinstance(answer, _Primary):
                return answer
        return await read(self._primary)
