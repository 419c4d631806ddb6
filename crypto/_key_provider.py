"""Where data keys are wrapped: a protocol, and the local master-key-ring backend.

A KMS or Vault transit backend implements the same protocol with real awaits;
the service only ever talks to a `KeyProvider`.
"""

from __future__ import annotations

from typing import Protocol

from crypto._data_key import DataKey, WrappedDataKey
from crypto._encoding import SubjectId
from crypto._master_keys import MasterKeyRing

__all__ = ["KeyProvider", "LocalKeyProvider"]


class KeyProvider(Protocol):
    """Wraps and unwraps subjects' data keys under versioned master keys.

    Implementations must bind each wrapped key to its subject id and master
    version (so a wrapped key moved or relabelled fails), raise
    `UnknownKeyVersion` for a version they do not hold and `DecryptionFailed`
    for any other failure.
    """

    @property
    def current_version(self) -> int:
        """The master key version `wrap_data_key` uses."""
        ...

    @property
    def versions(self) -> tuple[int, ...]:
        """Every master key version that can still unwrap, newest first."""
        ...

    async def wrap_data_key(self, data_key: DataKey, *, subject_id: SubjectId) -> WrappedDataKey:
        """Wrap ``data_key`` for ``subject_id`` under the current version."""
        ...

    async def unwrap_data_key(self, wrapped: WrappedDataKey, *, subject_id: SubjectId) -> DataKey:
        """Unwrap a data key that must belong to ``subject_id``."""
        ...


class LocalKeyProvider:
    """A `KeyProvider` backed by an in-process `MasterKeyRing`.

    Its methods are coroutines only to match the protocol; they never suspend,
    because AES-GCM on 32 bytes costs a few microseconds and a thread hop would
    cost far more. Await them like any provider:

        provider = LocalKeyProvider(parse_master_keys(text))
        wrapped = await provider.wrap_data_key(new_data_key(), subject_id=subject_id)
    """

    __slots__ = ("_ring",)

    def __init__(self, ring: MasterKeyRing) -> None:
        self._ring = ring

    @property
    def ring(self) -> MasterKeyRing:
        """The master key ring this provider wraps with."""
        return self._ring

    @property
    def current_version(self) -> int:
        """The master key version `wrap_data_key` uses."""
        return self._ring.current_version

    @property
    def versions(self) -> tuple[int, ...]:
        """Every master key version held, newest first."""
        return self._ring.versions

    async def wrap_data_key(self, data_key: DataKey, *, subject_id: SubjectId) -> WrappedDataKey:
        """Wrap ``data_key`` for ``subject_id`` under the current version."""
        return self._ring.wrap(data_key, subject_id=subject_id)

    async def unwrap_data_key(self, wrapped: WrappedDataKey, *, subject_id: SubjectId) -> DataKey:
        """Unwrap a data key that must belong to ``subject_id``."""
        return self._ring.unwrap(wrapped, subject_id=subject_id)

    def __repr__(self) -> str:
        return f"LocalKeyProvider({self._ring!r})"
