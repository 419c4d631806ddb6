"""Cross-instance cache invalidation through PostgreSQL LISTEN/NOTIFY.

Each process keeps one dedicated connection that LISTENs on the service's
channels and calls the registered handlers. While that connection is down the
process cannot know what other instances changed, so every cache registered
here is cleared and must be bypassed (`Notifications.connected` is False) until
the connection is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from consent.store.pool import Connection

__all__ = ["Notifications", "notify"]

log = logging.getLogger(__name__)

Handler = Callable[[str], None]


class Notifications:
    """Keeps one LISTEN connection alive and dispatches payloads per channel.

    >>> notes = Notifications(url)
    >>> notes.subscribe("consent_api_keys", on_change, on_reset=cache.clear)
    >>> await notes.start()
    """

    def __init__(self, url: str, *, health_interval: float = 2.0, retry_delay: float = 0.2) -> None:
        self._url = url
        self._handlers: dict[str, list[Handler]] = {}
        self._resets: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._health_interval = health_interval
        self._retry_delay = retry_delay
        self._connected = asyncio.Event()
        self.connected = False

    def subscribe(self, channel: str, handler: Handler, *, on_reset: Callable[[], None]) -> None:
        """Call `handler(payload)` for each notification; `on_reset()` whenever delivery may have gaps."""
        self._handlers.setdefault(channel, []).append(handler)
        self._resets.append(on_reset)

    async def start(self, *, wait: float = 5.0) -> None:
        """Start listening; waits (bounded) for the first connection so caches work from the start."""
        self._task = asyncio.create_task(self._run(), name="notifications")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for handler in self._handlers.get(channel, ()):
            handler(str(payload))

    def _lost(self) -> None:
        self.connected = False
        self._connected.clear()
        for reset in self._resets:
            reset()

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url)
                for channel in self._handlers:
                    await conn.add_listener(channel, self._dispatch)
                # Anything cached before this point may have missed a notification.
                for reset in self._resets:
                    reset()
                closed = asyncio.Event()

                def on_close(_conn: object, closed: asyncio.Event = closed) -> None:
                    self._lost()  # at once: caches must not serve a moment longer
                    closed.set()

                conn.add_termination_listener(on_close)
                self.connected = True
                self._connected.set()
                while not closed.is_set():
                    # A closed socket is noticed at once; a silent network loss by the health query.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), self._health_interval)
                    if not closed.is_set():
                        await conn.fetchval("SELECT 1", timeout=self._health_interval)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                log.warning("notification connection lost; caches bypassed until it is back")
            finally:
                self._lost()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(self._retry_delay)


async def notify(conn: Connection, channel: str, payload: str) -> None:
    """Send `payload` to every listener on `channel` (when the caller's transaction commits, if any)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
