"""How far a streaming replica has caught up with the writes this process knows of.

The guarantee (docs/scaling.md#3-read-replicas): a read sent to the replica never answers from
before a write this process has learned of: its own writes, at once after they commit (before the
caller's answer), and another instance's, when their notification arrives (milliseconds; the same
moment the state cache drops the subject). A write nobody here has heard of yet may be missed, as a
cached state would miss it.

How, without a round trip per read: every write learned is numbered (`seq`). A sampler asks the
primary for its WAL insert position (at or after the commit record of every transaction committed
so far, so of every write numbered before the question) and then the replica for its replay
position; once the replica has replayed a position the primary had when the writes up to `seq` were
known, all of them are visible there (`covered`). A subject remembers the number of its latest
write (`fences`); a read of it may use the replica when `covered` has reached that number, and
otherwise waits, bounded, for the sampler, then reads the primary. Identifier lookups have two
fences of their own: one moved by identifiers added (a lookup that finds nothing must be newer),
one by identifiers removed or keys changed (a lookup that finds a holder must be newer).

The replica is `ok`, `lagging` (it has not replayed what the primary had `max_lag` ago) or `down`
(unreachable, or not a replica); only `ok` takes reads. A down replica is probed in the background,
never on a request's path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
from collections.abc import Iterable
from typing import NamedTuple
from uuid import UUID

from consent.store.pool import HeldConnections
from consent.store.replication import inserted_position, replayed_position

__all__ = ["ReplicaState", "ReplicaWatch"]

log = logging.getLogger(__name__)

SAMPLE_EVERY = 0.002  # seconds between samples while a learned write is not yet known to be replayed
LAGGING_SAMPLE_EVERY = 0.05  # ... while the replica lags: reads go to the primary meanwhile
PRUNE_EVERY = 1.0  # seconds between two prunings of the fences of replayed writes
MAX_FENCES = 100_000  # beyond, every fence becomes one floor: all reads wait for the replica once
MAX_SAMPLES = 1024  # primary positions waiting to be replayed; dropping one only delays `covered`


class ReplicaState(enum.StrEnum):
    OK = "ok"
    LAGGING = "lagging"
    DOWN = "down"


class _Sample(NamedTuple):
    seq: int  # every write learned up to this number committed before `position` was read
    position: int  # the primary's WAL insert position
    at: float  # when (event loop time)


class ReplicaWatch:
    """Positions, fences and the replica's state; `run()` is the sampler, one task per process.

    watch = ReplicaWatch(primary_url, replica_url, max_lag=1.0, wait=0.02)
    covered = await watch.covering([subject_id])   # None: read the primary
    """

    def __init__(
        self,
        primary_url: str,
        replica_url: str,
        *,
        pooled: bool,
        max_lag: float,
        wait: float,
        timeout: float = 1.0,
        probe_every: float = 1.0,
    ) -> None:
        self._primary = HeldConnections(primary_url, pooled=pooled)
        self._replica = HeldConnections(replica_url, connect_timeout=timeout)
        self._max_lag = max_lag
        self._wait = wait
        self._timeout = timeout
        self._probe_every = probe_every
        self.state = ReplicaState.DOWN  # until the first sample says otherwise
        self._seq = 0
        self._covered = 0
        self._floor = 0  # every read needs `covered` at least here
        self._fences: dict[UUID, int] = {}
        self._identifiers_added = 0
        self._identifiers_removed = 0
        self._samples: collections.deque[_Sample] = collections.deque()
        self._learned = asyncio.Event()
        self._sampled = asyncio.Event()
        self._pruned_at = 0.0

    # What this process learns, from its own commits and from notifications.

    def subject_changed(self, subject_id: UUID) -> None:
        self._seq += 1
        self._fences[subject_id] = self._seq
        self._learned.set()

    def identifiers_added(self) -> None:
        self._seq += 1
        self._identifiers_added = self._seq
        self._learned.set()

    def identifiers_removed(self) -> None:
        self._seq += 1
        self._identifiers_added = self._identifiers_removed = self._seq
        self._learned.set()

    def anything_changed(self) -> None:
        """Writes may have been missed (the notification connection came back): wait for all of them."""
        self._seq += 1
        self._floor = self._seq
        self._learned.set()

    # What reads ask.

    async def covering(
        self, subject_ids: Iterable[UUID] = (), *, identifiers: bool = False, fresh: bool = False
    ) -> int | None:
        """The coverage a replica read starting now has, once it covers the writes learned of these
        subjects (and, for identifier lookups, of identifiers removed); None: read the primary.

        `fresh`: also every write committed anywhere before this call (one more sample: the request
        list, where the caller's own write may have come through another instance)."""
        if self.state is not ReplicaState.OK:
            return None
        fences = self._fences
        need = self._floor
        for subject_id in subject_ids:
            need = max(need, fences.get(subject_id, 0))
        if identifiers:
            need = max(need, self._identifiers_removed)
        if fresh:
            self._seq += 1
            need = self._seq
            self._learned.set()
        if need <= self._covered:
            return self._covered
        return await self._wait_for(need)

    def still_covers(self, covered: int, subject_ids: Iterable[UUID], *, missing_identifier: bool) -> bool:
        """Whether a replica read made at coverage `covered` holds for the subjects it found (and, when an
        identifier was not found there, whether no identifier was added since)."""
        if missing_identifier and self._identifiers_added > covered:
            return False
        if self._floor > covered:
            return False
        fences = self._fences
        return all(fences.get(subject_id, 0) <= covered for subject_id in subject_ids)

    def lost(self) -> None:
        """A read found the replica unreachable: reads go to the primary until the sampler reaches it again."""
        if self.state is not ReplicaState.DOWN:
            self._report(ReplicaState.DOWN, "a read could not reach it")

    async def _wait_for(self, need: int) -> int | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        while self._covered < need:
            remaining = deadline - loop.time()
            if remaining <= 0 or self.state is not ReplicaState.OK:
                return None
            sampled = self._sampled
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sampled.wait(), remaining)
        return self._covered

    # The sampler.

    async def run(self) -> None:
        """Sample positions until cancelled: often while a learned write is not yet replayed, else once
        every `probe_every` (which also notices a replica falling behind or coming back)."""
        while True:
            try:
                await asyncio.wait_for(self._sample(), self._timeout)
            except asyncio.CancelledError:
                raise
            except _PrimaryUnreachable:
                pass  # every request fails meanwhile; the replica's state is unknown, not changed
            except Exception as exc:  # unreachable, timed out, refused: reads go to the primary
                self._report(ReplicaState.DOWN, type(exc).__name__)
            finally:
                sampled, self._sampled = self._sampled, asyncio.Event()
                sampled.set()
            await self._pause()

    async def _pause(self) -> None:
        if self.state is ReplicaState.OK and self._covered < self._seq:
            await asyncio.sleep(SAMPLE_EVERY)
            return
        if self.state is ReplicaState.LAGGING:
            await asyncio.sleep(LAGGING_SAMPLE_EVERY)
            return
        self._learned.clear()
        if self.state is ReplicaState.OK:
            with contextlib.suppress(TimeoutError):  # a write learned wakes the sampler at once
                await asyncio.wait_for(self._learned.wait(), self._probe_every)
        else:
            await asyncio.sleep(self._probe_every)

    async def _sample(self) -> None:
        seq = self._seq
        try:
            async with self._primary.lease() as conn:
                position = await inserted_position(conn)
        except Exception as exc:
            raise _PrimaryUnreachable from exc
        async with self._replica.lease() as conn:
            replayed = await replayed_position(conn)
        if replayed is None:
            self._report(ReplicaState.DOWN, "not a replica (not in recovery)")
            return
        now = asyncio.get_running_loop().time()
        samples = self._samples
        samples.append(_Sample(seq, position, now))
        if len(samples) > MAX_SAMPLES:
            del samples[1]  # keep the oldest: it says how far behind the replica is
        while samples and samples[0].position <= replayed:
            self._covered = max(self._covered, samples.popleft().seq)
        lagging = bool(samples) and now - samples[0].at > self._max_lag
        self._report(ReplicaState.LAGGING if lagging else ReplicaState.OK, "behind the primary" if lagging else "")
        if now - self._pruned_at >= PRUNE_EVERY or len(self._fences) > MAX_FENCES:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the fences of replayed writes; the floor keeps their number for reads in flight."""
        self._pruned_at = now
        if len(self._fences) > MAX_FENCES:
            self._floor = self._seq
            self._fences = {}
            return
        covered = self._covered
        self._floor = max(self._floor, covered)
        self._fences = {subject_id: seq for subject_id, seq in self._fences.items() if seq > covered}

    def _report(self, state: ReplicaState, why: str) -> None:
        if state is ReplicaState.DOWN:
            self._samples.clear()  # positions read while it was out of reach say nothing of its lag
        if state is not self.state:
            level = logging.INFO if state is ReplicaState.OK else logging.WARNING
            log.log(level, "read replica %s%s", state.value, f": {why}" if why else "")
            self.state = state

    async def close(self) -> None:
        await self._primary.close()
        await self._replica.close()


class _PrimaryUnreachable(Exception):
    """The primary did not answer the sampler: nothing is learned of the replica this time."""
