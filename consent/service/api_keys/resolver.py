"""Resolving bearer tokens to API keys without a database round trip per request.

Keys are cached per process and the whole cache is dropped whenever any key
changes (a NOTIFY from the `api_keys` trigger), so a revoked key stops working
on every instance at once. While notifications are down the cache is bypassed.

Refusing costs no more than admitting: a token not shaped like the ones
`create_key` issues is refused before any lookup, and a well-formed token that
names no key is remembered as unknown (bounded, and forgotten at the next key
change, creation included), so guessing costs no query per guess. The origins
of the publishable keys are held in memory, read once per key change (one read
shared by every request that waits for it).
"""

from __future__ import annotations

import asyncio
import re
from typing import TypeVar

from consent.service.api_keys.issuing import ApiKey, hash_token, key_from_row
from consent.store import api_keys as store
from consent.store.notifications import Notifications
from consent.store.pool import Pool

__all__ = ["TOKEN_FORMAT", "KeyResolver"]

T = TypeVar("T")
CHANNEL = "consent_api_keys"
# `create_key`: a prefix and `secrets.token_urlsafe(32)`, 43 base64url characters.
TOKEN_FORMAT = re.compile(r"^(?:pk|sk)_[A-Za-z0-9_-]{43}$")
# While notifications are down, the origins read are trusted this long (they only decide preflights).
_ORIGINS_UNNOTIFIED_SECONDS = 1.0


class KeyResolver:
    def __init__(
        self, pool: Pool, notifications: Notifications, *, max_entries: int = 10_000, max_unknown: int = 10_000
    ) -> None:
        self._pool = pool
        self._notifications = notifications
        self._keys: dict[bytes, ApiKey] = {}
        self._unknown: dict[bytes, None] = {}
        self._origins: frozenset[str] | None = None
        self._origins_read: asyncio.Future[frozenset[str]] | None = None
        self._origins_at = 0.0
        self._generation = 0
        self._max_entries = max_entries
        self._max_unknown = max_unknown
        notifications.subscribe(CHANNEL, self._changed, on_reset=self._clear)

    def _changed(self, _payload: str) -> None:
        self._clear()

    def _clear(self) -> None:
        self._generation += 1
        self._keys.clear()
        self._unknown.clear()
        self._origins = None

    def known(self, token: str) -> ApiKey | None:
        """The active key for `token` if this process has it cached; never a query."""
        key = self._keys.get(hash_token(token))
        return None if key is None or key.revoked_at is not None else key

    async def resolve(self, token: str) -> ApiKey | None:
        """The active key for `token`, or None (malformed, unknown or revoked)."""
        if not TOKEN_FORMAT.match(token):
            return None
        digest = hash_token(token)
        key = self._keys.get(digest)
        if key is None:
            if digest in self._unknown:
                return None
            generation = self._generation
            row = await store.fetch_by_hash(self._pool, digest)
            # Only cache what no invalidation can have overtaken while we were reading.
            cacheable = self._notifications.connected and generation == self._generation
            if row is None:
                if cacheable:
                    _remember(self._unknown, digest, None, self._max_unknown)
                return None
            key = key_from_row(row)
            if cacheable:
                _remember(self._keys, digest, key, self._max_entries)
        return None if key.revoked_at is not None else key

    async def collect_origins(self) -> frozenset[str]:
        """Origins of all active publishable keys: which browsers may send a CORS preflight."""
        loop = asyncio.get_running_loop()
        origins = self._origins
        if origins is not None and (
            self._notifications.connected or loop.time() - self._origins_at < _ORIGINS_UNNOTIFIED_SECONDS
        ):
            return origins
        if self._origins_read is None:
            self._origins_read = loop.create_future()
            generation = self._generation
            try:
                origins = frozenset(await store.active_collect_origins(self._pool))
            except BaseException as exc:
                self._origins_read.set_exception(exc)
                self._origins_read.exception()  # retrieved: the waiters, if any, re-raise it
                raise
            else:
                self._origins_read.set_result(origins)
            finally:
                self._origins_read = None
            if generation == self._generation:
                self._origins, self._origins_at = origins, loop.time()
            return origins
        return await asyncio.shield(self._origins_read)


def _remember(entries: dict[bytes, T], digest: bytes, value: T, bound: int) -> None:
    if len(entries) >= bound:
        entries.clear()
    entries[digest] = value
