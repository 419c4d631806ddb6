"""The master key ring: versioned key-encryption keys that wrap subjects' data keys.

A wrapped data key is ``0x01 || nonce (12) || AES-256-GCM(data key) || tag (16)``
under one master version, with associated data ``"consent/data-key" || 0x01 ||
version (u32) || subject id``: moving it to another subject, or relabelling its
version, makes it fail to unwrap.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto._data_key import DATA_KEY_BYTES, DataKey, WrappedDataKey
from crypto._encoding import SubjectId, subject_bytes
from crypto._errors import DecryptionFailed, KeyMaterialError, UnknownKeyVersion
from crypto._key_text import format_entry, iter_entries

__all__ = [
    "MasterKeyRing",
    "generate_master_key_entry",
    "generate_master_key_file_text",
    "parse_master_key_file",
    "parse_master_keys",
]

MASTER_KEY_BYTES = 32
_MAX_VERSION = 0xFFFF_FFFF
_WRAP_FORMAT = b"\x01"
_WRAP_LABEL = b"consent/data-key"
_NONCE_BYTES = 12
_WRAPPED_BYTES = len(_WRAP_FORMAT) + _NONCE_BYTES + DATA_KEY_BYTES + 16
_U32 = struct.Struct(">I")


class MasterKeyRing:
    """Versioned AES-256 key-encryption keys; the highest version is current.

    Older versions stay in the ring only to unwrap data keys that have not been
    rewrapped yet; a version can be dropped from the configuration once no data
    key is wrapped by it. ``current_version`` pins an older version as current,
    so a new version can reach every instance before any key is wrapped by it
    (a rolling deploy would otherwise have old instances fail to unwrap). One
    AES-GCM context per version is built here, once.

    >>> ring = parse_master_keys(generate_master_key_entry(1))
    >>> ring.current_version
    1
    """

    __slots__ = ("_ciphers", "_current_version", "_versions")

    def __init__(self, keys: Mapping[int, bytes], *, current_version: int | None = None) -> None:
        if not keys:
            raise KeyMaterialError("the master key ring is empty: configure at least one version")
        for version, material in keys.items():
            _check_version(version)
            if len(material) != MASTER_KEY_BYTES:
                raise KeyMaterialError(
                    f"master key version {version} must be {MASTER_KEY_BYTES} bytes, got {len(material)}"
                )
        self._ciphers = {version: AESGCM(bytes(material)) for version, material in keys.items()}
        self._versions = tuple(sorted(self._ciphers, reverse=True))
        if current_version is not None and current_version not in self._ciphers:
            raise KeyMaterialError(f"the current master key version {current_version} is not in the ring")
        self._current_version = self._versions[0] if current_version is None else current_version

    @property
    def current_version(self) -> int:
        """The version new data keys are wrapped under."""
        return self._current_version

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version held, newest first."""
        return self._versions

    def wrap(self, data_key: DataKey, *, subject_id: SubjectId) -> WrappedDataKey:
        """Encrypt ``data_key`` for ``subject_id`` under the current version."""
        version = self._current_version
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._ciphers[version].encrypt(nonce, data_key.reveal(), _wrap_ad(version, subject_id))
        return WrappedDataKey(master_version=version, blob=_WRAP_FORMAT + nonce + sealed)

    def unwrap(self, wrapped: WrappedDataKey, *, subject_id: SubjectId) -> DataKey:
        """Decrypt a wrapped data key that must belong to ``subject_id``.

        Raises `UnknownKeyVersion` if the ring lacks its version, `DecryptionFailed`
        for anything else (wrong subject, relabelled version, any changed byte).
        """
        version = wrapped.master_version
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise UnknownKeyVersion(
                f"data key is wrapped by master key version {version}, which this ring does not hold"
                f" (versions held: {', '.join(map(str, self._versions))})"
            )
        blob = wrapped.blob
        if len(blob) != _WRAPPED_BYTES or blob[:1] != _WRAP_FORMAT:
            raise DecryptionFailed("wrapped data key is malformed")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            material: bytes | None = cipher.decrypt(nonce, sealed, _wrap_ad(version, subject_id))
        except InvalidTag:
            material = None
        if material is None:
            raise DecryptionFailed(
                "wrapped data key failed authentication (wrong subject, relabelled version or altered bytes)"
            )
        return DataKey(material)

    def __repr__(self) -> str:
        return f"MasterKeyRing(current_version={self._current_version}, versions={self._versions})"


def parse_master_keys(text: str, *, current_version: int | None = None) -> MasterKeyRing:
    """Parse ``CONSENT_MASTER_KEYS``: ``VERSION:BASE64`` entries separated by commas.

    ``"3:<base64>,2:<base64>"`` holds versions 3 (current) and 2. Order does not
    matter; the highest version is current unless ``current_version`` pins
    another. Raises `KeyMaterialError`.
    """
    return MasterKeyRing(_keys_from(text, file=False), current_version=current_version)


def parse_master_key_file(text: str, *, current_version: int | None = None) -> MasterKeyRing:
    """Parse the text of ``CONSENT_MASTER_KEY_FILE``: one ``VERSION:BASE64`` per line.

    Blank lines and ``#`` comments are ignored; ``current_version`` as for
    `parse_master_keys`. Raises `KeyMaterialError`.
    """
    return MasterKeyRing(_keys_from(text, file=True), current_version=current_version)


def generate_master_key_entry(version: int) -> str:
    """A new random ``VERSION:BASE64`` entry, e.g. to add a version before a rotation."""
    _check_version(version)
    return format_entry(str(version), secrets.token_bytes(MASTER_KEY_BYTES))


def generate_master_key_file_text(*, version: int = 1) -> str:
    """The text of a new development key file holding one random master key.

    The caller writes it with mode 0600; this function does no I/O.
    """
    return (
        "# consent master key ring: one VERSION:BASE64 per line; the highest version is current.\n"
        "# Keep this file secret (mode 0600), outside the database and its backups.\n"
        "# To rotate, add a line with a higher version, restart, then run `consent keys rotate`.\n"
        f"{generate_master_key_entry(version)}\n"
    )


def _keys_from(text: str, *, file: bool) -> dict[int, bytes]:
    keys: dict[int, bytes] = {}
    for entry in iter_entries(text, what="master key", file=file):
        if not entry.label.isdecimal() or not entry.label.isascii():
            raise KeyMaterialError(f"master key {entry.where}: the version must be a positive integer")
        version = int(entry.label)
        _check_version(version)
        if version in keys:
            raise KeyMaterialError(f"master key {entry.where}: version {version} appears twice")
        if len(entry.material) != MASTER_KEY_BYTES:
            raise KeyMaterialError(
                f"master key {entry.where} (version {version}): the key must be {MASTER_KEY_BYTES} bytes,"
                f" got {len(entry.material)}"
            )
        keys[version] = entry.material
    return keys


def _check_version(version: int) -> None:
    if not 1 <= version <= _MAX_VERSION:
        raise KeyMaterialError(f"a master key version must be between 1 and {_MAX_VERSION}")


def _wrap_ad(version: int, subject_id: SubjectId) -> bytes:
    return _WRAP_LABEL + _WRAP_FORMAT + _U32.pack(version) + subject_bytes(subject_id)
