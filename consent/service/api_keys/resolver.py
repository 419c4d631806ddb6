"""Resolving bearer tokens to API keys without a database round trip per request.

Keys are cached per process and the whole cache is dropped whenever any key
changes (a NOTIFY from the `api_keys` trigger), so a revoked key stops working
on every instance at once. While notifications are down the cache is bypassed.
"""

from __future__ import annotations

from consent.service.api_keys.issuing import ApiKey, hash_token, key_from_row
from consent.store import api_keys as store
from consent.store.notifications import Notifications
from consent.store.pool import Pool

__all__ = ["KeyResolver"]

CHANNEL = "consent_api_keys"


class KeyResolver:
    def __init__(self, pool: Pool, notifications: Notifications, *, max_entries: int = 10_000) -> None:
        self._pool = pool
        self._notifications = notifications
        self._keys: dict[bytes, ApiKey] = {}
        self._origins: frozenset[str] | None = None
        self._generation = 0
        self._max_entries = max_entries
        notifications.subscribe(CHANNEL, self._changed, on_reset=self._clear)

    def _changed(self, _payload: str) -> None:
        self._clear()

    def _clear(self) -> None:
        self._generation += 1
        self._keys.clear()
        self._origins = None

    async def resolve(self, token: str) -> ApiKey | None:
        """The active key for `token`, or None (unknown or revoked)."""
        digest = hash_token(token)
        key = self._keys.get(digest)
        if key is None:
            generation = self._generation
            row = await store.fetch_by_hash(self._pool, digest)
            if row is None:
                return None  # unknown tokens are not cached: guessing must not fill memory
            key = key_from_row(row)
            # Only cache what no invalidation can have overtaken while we were reading.
            if self._notifications.connected and generation == self._generation:
                if len(self._keys) >= self._max_entries:
                    self._keys.clear()
                self._keys[digest] = key
        return None if key.revoked_at is not None else key

    async def collect_origins(self) -> frozenset[str]:
        """Origins of all active publishable keys: which browsers may send a CORS preflight."""
        origins = self._origins
        if origins is None:
            generation = self._generation
            origins = frozenset(await store.active_collect_origins(self._pool))
            if self._notifications.connected and generation == self._generation:
                self._origins = origins
        return origins
