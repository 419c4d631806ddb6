"""Receiving requests in batches: the requests of one process that arrive together share a statement.

Each request received in one statement (`consent.store.request_receipt`) still paid a commit, a
WAL flush and PostgreSQL's global notification lock (its new subject's identifier is announced to
every instance, migration 0019), and under load the lock made every receipt of every process wait
for the WAL flush of the one before. Here a receipt is queued; while no statement of this process
is under way the queue is sent at once (a lone request pays no wait), and the receipts that arrive
meanwhile go together in the next one. The busier the process, the larger its batches and the less
each request costs. Two receipts that would create a subject for the same identifier never share a
statement (`_one_per_identifier`).

A batch that fails (a statement refused) is sent again one receipt at a time, so each request gets
its own answer: its row, `HELD` for a new subject whose identifier is another subject's (the caller
looks it up and sends the request again), None for its subject's open request of the same type, or
the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from consent.store.pool import DatabaseError, HeldConnections
from consent.store.request_receipt import HELD, Held, Receipt, receive_requests
from consent.store.requests import RequestRow

Outcome = RequestRow | Held | None

__all__ = ["HELD", "MAX_BATCH", "Outcome", "ReceiptBatches"]

MAX_BATCH = 64
"""At most this many receipts in one statement (its JSON stays well under a megabyte)."""


@dataclasses.dataclass(eq=False, slots=True)
class _Waiting:
    receipt: Receipt
    answer: asyncio.Future[Outcome]


class ReceiptBatches:
    """The receipts of one process: one statement under way at a time, the rest queued for the next,
    on a connection of their own (`HeldConnections`): the hot path does not borrow from the pool,
    nor wait there behind background jobs, nor for a new connection the pool opens as load rises."""

    def __init__(self, database_url: str, *, pooled: bool = False, max_batch: int = MAX_BATCH) -> None:
        self._connections = HeldConnections(database_url, pooled=pooled)
        self._max_batch = max_batch
        self._queue: list[_Waiting] = []
        self._sender: asyncio.Task[None] | None = None

    async def receive(self, receipt: Receipt) -> Outcome:
        """Write `receipt` with whichever others are waiting: its request's row, `HELD`, or None
        when its subject already has an open request of this type (`receive_requests`). Raises what
        writing it alone raised."""
        waiting = _Waiting(receipt, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="consent-request-receipts")
        # The sender outlives a caller that goes away (its client disconnected): the batch is
        # written for the others, and the abandoned request stays received, as if answered.
        return await asyncio.shield(waiting.answer)

    async def close(self) -> None:
        """After the last receipt: close the connection (receipts still queued were cancelled)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self._connections.close()

    async def _send_all(self) -> None:
        try:
            while self._queue:
                batch, later = _one_per_identifier(self._queue[: self._max_batch])
                self._queue = later + self._queue[self._max_batch :]
                await self._send(batch)
        finally:
            self._sender = None
            for waiting in self._queue:  # only when cancelled (the process stops): nothing was sent
                waiting.answer.cancel()
            self._queue = []

    async def _write(self, receipts: list[Receipt]) -> list[Outcome]:
        async with self._connections.lease() as conn:
            return await receive_requests(conn, receipts)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._outcomes(batch)
        except Exception as exc:  # not the database's answer: each caller gets it, the next batch goes on
            for waiting in batch:
                _settle(waiting, exc)
            return
        except BaseException:  # cancelled: the process stops
            for waiting in batch:
                waiting.answer.cancel()
            raise
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _settle(waiting, outcome)

    async def _outcomes(self, batch: list[_Waiting]) -> list[Outcome | BaseException]:
        """Each receipt's outcome: of the batch's statement, or when that fails, of its own."""
        try:
            return list(await self._write([waiting.receipt for waiting in batch]))
        except (DatabaseError, OSError) as exc:
            if len(batch) == 1:
                return [exc]
        outcomes: list[Outcome | BaseException] = []
        for waiting in batch:  # one at a time: each gets its own answer
            try:
                (outcome,) = await self._write([waiting.receipt])
            except (DatabaseError, OSError) as alone:
                outcomes.append(alone)
            else:
                outcomes.append(outcome)
        return outcomes


def _one_per_identifier(queued: list[_Waiting]) -> tuple[list[_Waiting], list[_Waiting]]:
    """The receipts to send now, and those creating a subject for an identifier that one of them
    creates too. The statement's claim sees only what was committed before it: two new subjects
    for one email in one statement would both be written. Sent after, the second finds the
    first's identifier held, and its caller sends it again with the first's subject."""
    now: list[_Waiting] = []
    later: list[_Waiting] = []
    claimed: set[tuple[str, bytes]] = set()
    for waiting in queued:
        new = waiting.receipt.subjects
        identifiers = set(zip(new.kinds, new.blind_indexes, strict=True))
        if identifiers & claimed:
            later.append(waiting)
        else:
            claimed |= identifiers
            now.append(waiting)
    return now, later


def _settle(waiting: _Waiting, outcome: Outcome | BaseException) -> None:
    if waiting.answer.done():
        return
    if isinstance(outcome, BaseException):
        waiting.answer.set_exception(outcome)
        with contextlib.suppress(BaseException):
            waiting.answer.exception()  # retrieved: an abandoned caller's error is not "never retrieved"
    else:
        waiting.answer.set_result(outcome)
