"""Committing consent writes in micro-batches: one durable transaction for many concurrent requests.

Each request is validated and prepared on its own (`consent.service.recording`),
then queued here. A writer task takes whatever is queued (up to the batch size)
and commits it in one transaction: subjects created, idempotency keys claimed,
events appended, state and facts upserted, audit entries and outbox rows
written, all with multi-row statements. One fsync then serves the whole batch,
and every request is answered only after that commit. If a batch fails, its
requests are retried one by one, so one bad request never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from consent.errors import ConsentError, InvalidInput
from consent.service import audit
from consent.service.recording import PreparedWrite, Recording
from consent.service.state_cache import StateCache
from consent.service.subjects import Subjects
from consent.store import consent_events as events_store
from consent.store import consent_state as state_store
from consent.store.pool import Connection, Pool

__all__ = ["ConsentWriter", "Replay", "WriteRequest"]

log = logging.getLogger(__name__)
Reprepare = Callable[[UUID], PreparedWrite]


class Replay(msgspec.Struct, kw_only=True, frozen=True):
    """The stored first answer to an Idempotency-Key."""

    status: int
    body: Any


class WriteRequest:
    """A prepared write waiting for its batch, with a way to redo it for another subject id."""

    __slots__ = ("future", "prepared", "recording", "reprepare")

    def __init__(self, recording: Recording, prepared: PreparedWrite, reprepare: Reprepare) -> None:
        self.recording = recording
        self.prepared = prepared
        self.reprepare = reprepare
        self.future: asyncio.Future[PreparedWrite | Replay] = asyncio.get_running_loop().create_future()


class ConsentWriter:
    def __init__(
        self,
        pool: Pool,
        subjects: Subjects,
        states: StateCache,
        *,
        batch_size: int,
        wait_seconds: float,
        slots: int = 2,
    ) -> None:
        self._pool = pool
        self._subjects = subjects
        self._states = states
        self._batch_size = batch_size
        self._wait = wait_seconds
        self._queue: asyncio.Queue[WriteRequest] = asyncio.Queue()
        self._slots = asyncio.Semaphore(slots)
        self._task: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consent-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)

    async def submit(self, request: WriteRequest) -> PreparedWrite | Replay:
        """Queue a prepared write; returns once it is committed (or replays an earlier answer)."""
        self._queue.put_nowait(request)
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            await self._slots.acquire()
            deadline = loop.time() + self._wait
            while len(batch) < self._batch_size:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    await asyncio.sleep(min(remaining, 0.0002))
                    continue
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._commit(batch))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)

    async def _commit(self, batch: list[WriteRequest]) -> None:
        try:
            await self._commit_together(batch)
        finally:
            self._slots.release()

    async def _commit_together(self, batch: list[WriteRequest]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                losers = await self._write(conn, batch)
        except (ConsentError, asyncpg.PostgresError, OSError) as exc:
            # Caches may remember subjects or keys of the rolled-back transaction.
            self._subjects.clear()
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            log.warning("a batch of %d consent writes failed (%s); retrying one by one", len(batch), type(exc).__name__)
            for request in batch:
                await self._commit_together([request])
            return
        except BaseException as exc:
            self._subjects.clear()
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            raise
        for request in batch:
            self._states.evict(request.prepared.subject_id)
        self._subjects.forget_misses()
        for request in batch:
            if request in losers:
                await self._replay(request)
            elif not request.future.done():
                request.future.set_result(request.prepared)

    async def _write(self, conn: Connection, batch: list[WriteRequest]) -> set[WriteRequest]:
        await self._settle_subjects(conn, batch)
        losers = await self._claim_idempotency(conn, batch)
        winners = [r.prepared for r in batch if r not in losers]
        if not winners:
            return losers
        await events_store.insert_events(conn, [row for w in winners for row in w.events])
        await state_store.upsert_states(conn, _newest_states(winners))
        await state_store.upsert_facts(conn, _merged_facts(winners))
        await audit.record_many(conn, [w.audit for w in winners])
        await events_store.insert_outbox(conn, [row for w in winners for row in w.outbox])
        return losers

    async def _settle_subjects(self, conn: Connection, batch: list[WriteRequest]) -> None:
        """Create the subjects of new identifiers; if one appeared meanwhile, redo the write for it."""
        for request in batch:
            identifier = request.recording.identifier
            if request.recording.subject_id is not None or identifier is None:
                continue
            planned = request.prepared.subject_id
            subject_id, _created = await self._subjects.find_or_create(
                conn, identifier, request.prepared.response.recorded_at, new_id=planned
            )
            if subject_id != planned:
                request.prepared = request.reprepare(subject_id)

    async def _claim_idempotency(self, conn: Connection, batch: list[WriteRequest]) -> set[WriteRequest]:
        """Claim each request's Idempotency-Key; returns the requests that must replay instead of writing."""
        claimants: dict[tuple[UUID, str], WriteRequest] = {}
        losers: set[WriteRequest] = set()
        for request in batch:
            idem = request.recording.idempotency
            if idem is None:
                continue
            if (idem.api_key_id, idem.key) in claimants:
                losers.add(request)  # the same key twice in one batch: the first writes, the second replays
            else:
                claimants[(idem.api_key_id, idem.key)] = request
        if not claimants:
            return losers
        rows = [
            (
                api_key_id,
                key,
                request.recording.idempotency.request_hash if request.recording.idempotency else b"",
                201,
                msgspec.to_builtins(request.prepared.response),
                request.prepared.response.recorded_at,
            )
            for (api_key_id, key), request in claimants.items()
        ]
        won = await events_store.claim_idempotency_keys(conn, rows)
        losers.update(request for claim, request in claimants.items() if claim not in won)
        return losers

    async def _replay(self, request: WriteRequest) -> None:
        key = request.recording.idempotency
        assert key is not None
        stored = await events_store.fetch_idempotency(self._pool, key.api_key_id, key.key)
        if stored is None or bytes(stored["request_hash"]) != key.request_hash:
            request.future.set_exception(
                InvalidInput("this Idempotency-Key was used with a different body", field="idempotency-key")
            )
        else:
            request.future.set_result(Replay(status=stored["status"], body=stored["response"]))


def _newest_states(writes: list[PreparedWrite]) -> list[tuple[Any, ...]]:
    """One row per (subject, purpose): the latest, since one statement cannot update a row twice."""
    newest: dict[tuple[UUID, str], tuple[Any, ...]] = {}
    for write in writes:
        for row in write.states:
            key = (row[0], row[1])
            if key not in newest or newest[key][4] <= row[4]:
                newest[key] = row
    return list(newest.values())


def _merged_facts(writes: list[PreparedWrite]) -> list[tuple[Any, ...]]:
    merged: dict[UUID, tuple[Any, ...]] = {}
    for write in writes:
        subject_id, gpc_at, jurisdiction = write.facts
        earlier = merged.get(subject_id)
        if earlier is not None and earlier[1] is not None:
            gpc_at = earlier[1] if gpc_at is None else min(earlier[1], gpc_at)
        merged[subject_id] = (subject_id, gpc_at, jurisdiction)
    return list(merged.values())
