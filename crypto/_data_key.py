"""Per-subject data keys: the keys that actually encrypt personal fields."""

from __future__ import annotations

import secrets
import struct
from typing import NoReturn

import msgspec
from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto._errors import KeyMaterialError

__all__ = ["DATA_KEY_BYTES", "DataKey", "WrappedDataKey", "new_data_key"]

DATA_KEY_BYTES = 32
_KEY_ID_LABEL = b"consent/data-key-id/v1"
_U32 = struct.Struct(">I")


class DataKey:
    """A subject's 256-bit AES-GCM data key, ready to encrypt and decrypt fields.

    The AES-GCM context is built once here and reused for every field, so the
    service should keep the `DataKey` (not its bytes) in its cache. ``key_id`` is a
    32-bit fingerprint (HMAC-SHA256 of a fixed label under the key) that every field
    ciphertext carries, so a value can be matched to the key that made it without
    trial decryption; it reveals nothing about the key. ``aead`` is the cached
    AES-256-GCM context the field envelope uses. The repr never shows the key.
    """

    __slots__ = ("_material", "aead", "key_id")

    def __init__(self, material: bytes) -> None:
        if len(material) != DATA_KEY_BYTES:
            raise KeyMaterialError(f"a data key must be {DATA_KEY_BYTES} bytes, got {len(material)}")
        self._material = bytes(material)
        self.aead = AESGCM(self._material)
        mac = hmac.HMAC(self._material, hashes.SHA256())
        mac.update(_KEY_ID_LABEL)
        self.key_id: int = _U32.unpack_from(mac.finalize())[0]

    def reveal(self) -> bytes:
        """The raw key bytes, for a key provider to wrap. Nothing else should need them."""
        return self._material

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id:#010x}, material=[REDACTED])"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataKey):
            return NotImplemented
        return constant_time.bytes_eq(self._material, other._material)

    def __hash__(self) -> int:
        return self.key_id

    def __reduce__(self) -> NoReturn:
        raise TypeError("a DataKey cannot be pickled; store it only wrapped")


def new_data_key() -> DataKey:
    """A fresh random 256-bit data key from the operating system's CSPRNG."""
    return DataKey(secrets.token_bytes(DATA_KEY_BYTES))


class WrappedDataKey(msgspec.Struct, frozen=True, kw_only=True):
    """A data key encrypted under one master key version: the only form that is stored.

    ``master_version`` is kept in its own column so the service can count and rewrap
    keys by version; it is also bound into ``blob`` as associated data, so relabelling
    it makes unwrapping fail.
    """

    master_version: int
    blob: bytes
