"""Committing consent writes in micro-batches: one durable transaction for many concurrent requests.

Each request is validated and prepared on its own (`consent.service.recording.prepare`),
then queued here. A writer task takes whatever is queued (up to the batch size)
and commits it in one transaction: subjects created, idempotency keys claimed,
events appended, state and facts upserted, audit entries and outbox rows
written, all with multi-row statements. One fsync then serves the whole batch,
and every request is answered only after that commit.

A batch without Idempotency-Keys is one statement: the subjects it names by id
are read beforehand (shared with the check path's cold reads), and a subject is
planned for each identifier the process does not remember, without a lookup:
the statement creates them while claiming their identifiers. An identifier
another subject holds is reported instead, and nothing is written for it; its
writes go back to the queue, to be looked up and written by the next batch (a
write held twice takes the locking path). If the statement fails, the batch is
redone on the locking path: a transaction that locks the identifiers, looks
them up, claims idempotency keys and writes. If that fails too, its requests are
retried one by one, so one bad request never fails the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import ConsentError, InvalidInput
from consent.service import audit
from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.state_cache import EMPTY, StateCache, SubjectSnapshot
from consent.service.recording.prepare import Idempotency, PreparedWrite, RecordingRequest
from consent.service.recording.subject_settling import plan_subjects, settle_subjects, token_of
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.store import consent_events as events_store
from consent.store.consent_batch import BatchRows, create_and_write_batch, write_batch
from consent.store.consent_events import IdempotencyRow
from consent.store.consent_state import ConsentStateRow, SubjectFactsRow
from consent.store.pool import Connection, DatabaseError, HeldConnections, Pool

__all__ = ["ConsentWriter", "Replay", "WriteRequest", "earlier_answer"]

log = logging.getLogger(__name__)
Prepare = Callable[[UUID, SubjectSnapshot], PreparedWrite]


class Replay(msgspec.Struct, kw_only=True, frozen=True):
    """The stored first answer to an Idempotency-Key."""

    status: int
    body: Any


@dataclasses.dataclass(eq=False, slots=True, kw_only=True)
class WriteRequest:
    """A write waiting for its batch (compared by identity: batches keep sets of them).

    `subject_id` is the subject's id when known (given, or found in the caches);
    `prepared` is filled before queueing when the subject and its state were
    cached; otherwise the batch resolves (or creates) the subject and reads
    its state in one go, then calls `prepare` (planned id for a new subject).
    """

    request: RecordingRequest
    prepare: Prepare
    subject_id: UUID | None
    planned_id: UUID
    prepared: PreparedWrite | None = None
    # Prepared from committed state before queueing; otherwise a rolled-back batch must redo it.
    prepared_early: bool = dataclasses.field(init=False)
    # Its identifier was found held by another subject than the one planned: look it up this time.
    look_up: bool = dataclasses.field(default=False, init=False)
    future: asyncio.Future[PreparedWrite | Replay] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.prepared_early = self.prepared is not None
        self.future = asyncio.get_running_loop().create_future()

    @property
    def write(self) -> PreparedWrite:
        assert self.prepared is not None, "prepared by the batch before it writes"
        return self.prepared


class ConsentWriter:
    def __init__(
        self,
        pool: Pool,
        subjects: Subjects,
        states: StateCache,
        reads: ColdReads,
        *,
        database_url: str,
        batch_size: int,
        wait_seconds: float,
        slots: int,
        pooled: bool = False,
    ) -> None:
        self._pool = pool
        self._connections = HeldConnections(database_url, pooled=pooled)  # at most `slots` leased at once
        self._reads = reads
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
        await self._connections.close()

    async def submit(self, request: WriteRequest) -> PreparedWrite | Replay:
        """Queue a prepared write; returns once it is committed (or replays an earlier answer)."""
        self._queue.put_nowait(request)
        return await request.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            await self._slots.acquire()
            # Company is worth waiting for only while another batch commits: an idle writer
            # commits what it has at once, so a lone write pays no wait.
            deadline = loop.time() + (self._wait if self._commits else 0.0)
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

    async def _commit_together(self, batch: list[WriteRequest], *, locking: bool = False) -> None:
        losers: set[WriteRequest] = set()
        held: set[WriteRequest] = set()
        try:
            outcome = None if locking else await self._commit_in_one_statement(batch)
            if outcome is None:
                async with self._connections.lease() as conn, conn.transaction():
                    losers = await self._write(conn, batch)
            else:
                held = outcome
        except (ConsentError, DatabaseError, OSError) as exc:
            await self._after_rollback(batch, exc)
            return
        except BaseException as exc:
            self._subjects.clear()
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            raise
        written = [request for request in batch if request not in held]
        for request in written:
            self._states.evict(request.write.subject_id)
        self._subjects.forget_misses([r.request.identifier for r in batch if r.request.identifier is not None])
        for request in written:
            if request in losers:
                await self._replay(request)
            elif not request.future.done():
                request.future.set_result(request.write)
        if held:
            await self._again(held)

    async def _again(self, held: set[WriteRequest]) -> None:
        """Write again the writes whose new subject's identifier another subject holds: looked up by
        the next batch; on the locking path if a lookup was already made for them."""
        twice = [request for request in held if request.look_up]
        for request in held:
            request.prepared = None
            if not request.look_up:
                request.look_up = True
                self._queue.put_nowait(request)
        if twice:
            await self._commit_together(twice, locking=True)

    async def _after_rollback(self, batch: list[WriteRequest], exc: Exception) -> None:
        """Fail a lone write; retry a batch's writes one by one, so one bad write fails no other."""
        # Caches may remember subjects or keys of the rolled-back transaction, and writes the batch
        # prepared may name subjects it created: forget both before retrying.
        self._subjects.clear()
        for request in batch:
            if not request.prepared_early:
                request.prepared = None
        if len(batch) == 1:
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        log.warning("a batch of %d consent writes failed (%s); retrying one by one", len(batch), type(exc).__name__)
        for request in batch:
            await self._commit_together([request])

    async def _commit_in_one_statement(self, batch: list[WriteRequest]) -> set[WriteRequest] | None:
        """Commit a batch without Idempotency-Keys as one statement: the writes it left out, as their
        identifier is another subject's; None if the batch must take the locking path."""
        if any(request.request.idempotency is not None for request in batch):
            return None  # claiming keys decides who writes, before anything is written
        try:
            waiting = [r for r in batch if r.prepared is None]
            identifiers, known = _subjects_of(waiting)
            look_up = [r.request.identifier for r in waiting if r.look_up and r.request.identifier is not None]
            planned = await plan_subjects(
                self._reads, self._subjects, identifiers, known, datetime.now(UTC), look_up=look_up
            )
            self._prepare(waiting, planned.found, planned.snapshots)
            rows = _rows([r.write for r in batch])
            async with self._connections.lease() as conn:
                not_created = await create_and_write_batch(conn, rows, new=planned.new, seen=planned.seen)
        except (ConsentError, DatabaseError, OSError):
            # A claim lost to another writer, a subject erased meanwhile, a failed statement:
            # the locking path redoes the batch from what is committed, and reports what fails.
            for request in batch:
                if not request.prepared_early:
                    request.prepared = None
            return None
        return {request for request in batch if request.write.subject_id in not_created}

    async def _write(self, conn: Connection, batch: list[WriteRequest]) -> set[WriteRequest]:
        await self._prepare_unprepared(conn, batch)
        losers = await self._claim_idempotency(conn, batch)
        winners = [r.write for r in batch if r not in losers]
        if winners:
            await write_batch(conn, _rows(winners))
        return losers

    async def _prepare_unprepared(self, conn: Connection, batch: list[WriteRequest]) -> None:
        """Resolve or create the subjects of the writes that were queued unprepared, then prepare them."""
        waiting = [r for r in batch if r.prepared is None]
        if not waiting:
            return
        identifiers, known = _subjects_of(waiting)
        found, snapshots = await settle_subjects(conn, self._subjects, identifiers, known, datetime.now(UTC))
        self._prepare(waiting, found, snapshots)

    def _prepare(
        self, waiting: list[WriteRequest], found: dict[bytes, UUID], snapshots: dict[UUID, SubjectSnapshot]
    ) -> None:
        for request in waiting:
            subject_id = request.subject_id
            if subject_id is None:
                assert request.request.identifier is not None
                subject_id = found[token_of(self._subjects, request.request.identifier)]
            request.prepared = request.prepare(subject_id, snapshots.get(subject_id, EMPTY))

    async def _claim_idempotency(self, conn: Connection, batch: list[WriteRequest]) -> set[WriteRequest]:
        """Claim each request's Idempotency-Key; returns the requests that must replay instead of writing."""
        claimants: dict[tuple[UUID, str], WriteRequest] = {}
        losers: set[WriteRequest] = set()
        for request in batch:
            idem = request.request.idempotency
            if idem is None:
                continue
            if (idem.api_key_id, idem.key) in claimants:
                losers.add(request)  # the same key twice in one batch: the first writes, the second replays
            else:
                claimants[(idem.api_key_id, idem.key)] = request
        if not claimants:
            return losers
        rows = [
            IdempotencyRow(
                api_key_id=api_key_id,
                key=key,
                request_hash=request.request.idempotency.request_hash if request.request.idempotency else b"",
                status=201,
                response=msgspec.to_builtins(request.write.response),
                created_at=request.write.response.recorded_at,
                subject_id=request.write.response.subject_id,
            )
            for (api_key_id, key), request in claimants.items()
        ]
        won = await events_store.claim_idempotency_keys(conn, rows)
        losers.update(request for claim, request in claimants.items() if claim not in won)
        return losers

    async def _replay(self, request: WriteRequest) -> None:
        key = request.request.idempotency
        assert key is not None
        try:
            replay = await earlier_answer(self._pool, key)
        except InvalidInput as exc:
            request.future.set_exception(exc)
            return
        if replay is None:  # the winner's row is gone (expired meanwhile): the key cannot be honoured
            request.future.set_exception(_reused())
        else:
            request.future.set_result(replay)


def _reused() -> InvalidInput:
    return InvalidInput("this Idempotency-Key was used with a different body", field="idempotency-key")


async def earlier_answer(pool: Pool, idempotency: Idempotency) -> Replay | None:
    """The stored first answer to this Idempotency-Key, or None; InvalidInput if it was used with
    another body."""
    stored = await events_store.fetch_idempotency(pool, idempotency.api_key_id, idempotency.key)
    if stored is None:
        return None
    if stored.request_hash != idempotency.request_hash:
        raise _reused()
    return Replay(status=stored.status, body=stored.response)


def _subjects_of(waiting: list[WriteRequest]) -> tuple[list[tuple[Identifier, UUID]], set[UUID]]:
    """(identifier, planned id) pairs of the writes naming an identifier; ids the others name."""
    identifiers = [
        (r.request.identifier, r.planned_id)
        for r in waiting
        if r.subject_id is None and r.request.identifier is not None
    ]
    known = {r.subject_id for r in waiting if r.subject_id is not None}
    return identifiers, known


def _rows(writes: list[PreparedWrite]) -> BatchRows:
    publishable = {w.subject_id for w in writes if w.publishable}
    return BatchRows(
        events=[row for w in writes for row in w.events],
        states=_newest_states(writes),
        facts=_merged_facts(writes),
        audit=audit.entry_rows([w.audit for w in writes], datetime.now(UTC)),
        outbox=[row for w in writes for row in w.outbox],
        # A secret key's write in the same batch sets the jurisdiction as it always does.
        kept_jurisdiction=list(publishable - {w.subject_id for w in writes if not w.publishable}),
        publishable=list(publishable),
    )


def _newest_states(writes: list[PreparedWrite]) -> list[ConsentStateRow]:
    """One row per (subject, purpose): the latest, since one statement cannot update a row twice."""
    newest: dict[tuple[UUID, str], ConsentStateRow] = {}
    for write in writes:
        for row in write.states:
            key = (row.subject_id, row.purpose)
            if key not in newest or newest[key].recorded_at <= row.recorded_at:
                newest[key] = row
    return list(newest.values())


def _merged_facts(writes: list[PreparedWrite]) -> list[SubjectFactsRow]:
    """One row per subject: the latest jurisdiction (a secret key's over a publishable key's), the
    earliest GPC opt-out."""
    merged: dict[UUID, SubjectFactsRow] = {}
    by_secret_key: set[UUID] = set()
    for write in writes:
        facts = write.facts
        earlier = merged.get(facts.subject_id)
        if earlier is not None and earlier.gpc_opt_out_at is not None:
            gpc_at = earlier.gpc_opt_out_at
            if facts.gpc_opt_out_at is not None:
                gpc_at = min(gpc_at, facts.gpc_opt_out_at)
            facts = msgspec.structs.replace(facts, gpc_opt_out_at=gpc_at)
        if earlier is not None and write.publishable and facts.subject_id in by_secret_key:
            facts = msgspec.structs.replace(facts, jurisdiction=earlier.jurisdiction)
        if not write.publishable:
            by_secret_key.add(facts.subject_id)
        merged[facts.subject_id] = facts
    return list(merged.values())
