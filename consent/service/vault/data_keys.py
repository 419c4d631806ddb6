"""Subjects' data keys: created, unwrapped (and cached), and destroyed on erasure.

Unwrapped keys are cached per process, bounded in number and age, and dropped
at once when any instance erases the subject (NOTIFY from the `subject_keys`
trigger). While notifications are down the cache is bypassed: an erased
subject's key must never be used again, even for a moment.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from uuid import UUID

from consent.config import ConfigError
from consent.errors import Conflict
from consent.key_material import KeyMaterial, reload_master_keys
from consent.service.cache_bounds import store_bounded
from consent.store import vault as store
from consent.store.notifications import Notifications
from consent.store.pool import Connection, Pool
from crypto import DataKey, KeyMaterialError, LocalKeyProvider, UnknownKeyVersion, WrappedDataKey, new_data_key

__all__ = ["DataKeys", "SubjectErased"]

log = logging.getLogger(__name__)
KEYS_CHANNEL = "consent_subject_keys"
MASTER_CHANNEL = "consent_master_keys"


class SubjectErased(Conflict):
    kind = "subject-erased"
    title = "Subject erased"


class DataKeys:
    """The data keys of subjects, as this process sees them."""

    def __init__(
        self,
        material: KeyMaterial,
        notifications: Notifications,
        *,
        max_entries: int = 100_000,
        max_age_seconds: float = 600.0,
    ) -> None:
        self._material = material
        self.provider: LocalKeyProvider = material.provider
        self._notifications = notifications
        self._cache: OrderedDict[UUID, tuple[DataKey, float]] = OrderedDict()
        self._generation = 0
        self._max_entries = max_entries
        self._max_age = max_age_seconds
        notifications.subscribe(KEYS_CHANNEL, self._erased, on_reset=self.clear)
        notifications.subscribe(MASTER_CHANNEL, self._master_keys_changed, on_reset=lambda: None)

    def _erased(self, payload: str) -> None:
        self._generation += 1
        self._cache.pop(UUID(payload), None)

    def _master_keys_changed(self, _payload: str) -> None:
        try:
            self.reload_master_keys()
        except (OSError, KeyMaterialError, ConfigError) as exc:
            # Keep the ring we have; an unwrap under a version we lack retries the reload.
            log.warning(
                "could not re-read the master key file (%s); keeping versions %s",
                type(exc).__name__,
                self.provider.versions,
            )

    def clear(self) -> None:
        self._generation += 1
        self._cache.clear()

    def reload_master_keys(self) -> bool:
        """Re-read a file-based master key ring (a version was added); True if it changed."""
        ring = reload_master_keys(self._material)
        if ring is None or ring.versions == self.provider.versions:
            return False
        self.provider = LocalKeyProvider(ring)
        return True

    async def create(self, conn: Connection, subject_id: UUID, now: datetime) -> DataKey | None:
        """Create the subject with a fresh data key; None if the subject exists already."""
        if await store.is_tombstoned(conn, subject_id):
            raise SubjectErased("this subject was erased; its id cannot be used again", field="subject_id")
        key = new_data_key()
        wrapped = await self.provider.wrap_data_key(key, subject_id=subject_id)
        created = await store.insert_subject(
            conn, subject_id, created_at=now, master_version=wrapped.master_version, wrapped_key=wrapped.blob
        )
        # Not cached: the transaction may still roll back, and a cached key would outlive its subject.
        return key if created else None

    async def get(self, conn: Connection | Pool, subject_id: UUID) -> DataKey | None:
        """The subject's data key, or None if the subject has none (unknown, or erased)."""
        cached = self._cache.get(subject_id)
        if cached is not None and time.monotonic() - cached[1] < self._max_age:
            self._cache.move_to_end(subject_id)
            return cached[0]
        generation = self._generation
        stored = await store.fetch_wrapped_key(conn, subject_id)
        if stored is None:
            return None
        key = await self._unwrap(WrappedDataKey(master_version=stored[0], blob=stored[1]), subject_id)
        self._remember(subject_id, key, generation)
        return key

    @property
    def generation(self) -> int:
        """Changes whenever a key is erased anywhere; pass it back to `from_wrapped`."""
        return self._generation

    async def from_wrapped(self, subject_id: UUID, master_version: int, blob: bytes, *, generation: int) -> DataKey:
        """The key of a wrapped row read elsewhere (in a joined query), from the cache if it is there."""
        cached = self._cache.get(subject_id)
        if cached is not None and time.monotonic() - cached[1] < self._max_age:
            return cached[0]
        key = await self._unwrap(WrappedDataKey(master_version=master_version, blob=blob), subject_id)
        self._remember(subject_id, key, generation)
        return key

    async def new_wrapped(self, subject_id: UUID) -> tuple[DataKey, WrappedDataKey]:
        """A fresh data key for a subject about to be created, and its wrapped form to store."""
        key = new_data_key()
        return key, await self.provider.wrap_data_key(key, subject_id=subject_id)

    async def get_or_create(self, conn: Connection, subject_id: UUID, now: datetime) -> DataKey:
        key = await self.get(conn, subject_id)
        if key is None:
            key = await self.create(conn, subject_id, now)
        if key is None:  # created concurrently by another request
            key = await self.get(conn, subject_id)
        if key is None:
            raise Conflict("the subject changed concurrently; retry", field="subject_id")
        return key

    async def destroy(self, conn: Connection, subject_id: UUID) -> bool:
        """Delete the wrapped key and leave a tombstone (caller's transaction); True if there was a key."""
        existed = await store.delete_subject_key(conn, subject_id)
        await store.insert_tombstone(conn, subject_id, datetime.now(UTC))
        self._erased(str(subject_id))
        return existed

    async def _unwrap(self, wrapped: WrappedDataKey, subject_id: UUID) -> DataKey:
        try:
            return await self.provider.unwrap_data_key(wrapped, subject_id=subject_id)
        except UnknownKeyVersion:
            # A rotation may have added a version since this process read its key file.
            if not self.reload_master_keys():
                raise
            return await self.provider.unwrap_data_key(wrapped, subject_id=subject_id)

    def _remember(self, subject_id: UUID, key: DataKey, generation: int) -> None:
        # Only cache what no erasure notice can have overtaken while we were reading.
        if not self._notifications.connected or generation != self._generation or self._max_entries == 0:
            return
        store_bounded(self._cache, subject_id, (key, time.monotonic()), self._max_entries)
