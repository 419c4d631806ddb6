"""Cold reads of the check path, coalesced: concurrent cache misses share one query.

A check whose subject or state is not cached costs one round trip to
PostgreSQL. Under load, dozens of them are waiting at once in each process, and
the round trip (a socket write waking the backend, its reply waking us) costs
more than the lookup it carries. So misses queue here, and each query takes
every miss queued when it starts: at most `slots` queries are in flight, a
miss arriving while they all are joins the next one. An idle process sends a
miss at once, so a lone check never waits for company.

Every waiter gets the whole answer of its query (candidates and state rows of
all the misses in it); the check path picks what it asked for and may cache the
rest. A miss only ever joins a query that starts after it was queued, so what
it reads is never older than the cache generation its caller captured.

With a read replica (`replica`), each query goes to it when it covers the writes its subjects
depend on (`consent.service.replica`), and to this object's own primary connections otherwise.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from uuid import UUID

from consent.store import consent_state as store
from consent.store.consent_state import Resolved
from consent.store.pool import HeldConnections

if TYPE_CHECKING:  # the replica module builds on the check path's caches: only its type is needed here
    from consent.service.replica.reads import Replica

__all__ = ["SLOTS", "ColdReads", "Resolved"]

SLOTS = 2  # queries of cold reads in flight at once, each on a connection of its own


class _Query:
    """The misses one query will carry, and the future they all wait on."""

    __slots__ = ("future", "identifiers", "subject_ids")

    def __init__(self) -> None:
        self.identifiers: set[tuple[str, bytes]] = set()
        self.subject_ids: set[UUID] = set()
        self.future: asyncio.Future[Resolved] = asyncio.get_running_loop().create_future()
        # Waiters that went away leave nobody to read a failure: mark it read.
        self.future.add_done_callback(lambda done: done.cancelled() or done.exception())


class ColdReads:
    def __init__(
        self, database_url: str, *, slots: int = SLOTS, pooled: bool = False, replica: Replica | None = None
    ) -> None:
        self._connections = HeldConnections(database_url, pooled=pooled)  # at most `slots` leased at once
        self._replica = replica
        self._slots = slots
        self._in_flight = 0
        self._next: _Query | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def resolve(self, kinds: list[str], blind_indexes: list[bytes], subject_ids: list[UUID]) -> Resolved:
        """Identifier candidates and state rows, as `consent.store.consent_state.resolve` returns them
        (for these misses and possibly others)."""
        query = self._next
        if query is None:
            query = self._next = _Query()
        query.identifiers.update(zip(kinds, blind_indexes, strict=True))
        query.subject_ids.update(subject_ids)
        if self._in_flight < self._slots:
            self._send_next()
        # Shielded: one caller going away must not cancel the query the others wait on.
        return await asyncio.shield(query.future)

    async def close(self) -> None:
        """Cancel the queries in flight and close the connections."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._connections.close()

    def _send_next(self) -> None:
        query, self._next = self._next, None
        if query is None:
            return
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._run(query))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, query: _Query) -> None:
        kinds = [kind for kind, _ in query.identifiers]
        indexes = [index for _, index in query.identifiers]
        try:
            result = await self._read(kinds, indexes, list(query.subject_ids))
        except asyncio.CancelledError:
            query.future.cancel()
            raise
        except Exception as exc:
            query.future.set_exception(exc)
        else:
            query.future.set_result(result)
        finally:
            self._in_flight -= 1
            self._send_next()

    async def _read(self, kinds: list[str], indexes: list[bytes], subject_ids: list[UUID]) -> Resolved:
        if self._replica is not None:
            found = await self._replica.resolve(kinds, indexes, subject_ids)
            if found is not None:
                return found
        async with self._connections.lease() as conn:
            return await store.resolve(conn, kinds, indexes, subject_ids)
