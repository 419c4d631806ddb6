"""Field encryption: one personal value under its subject's data key.

A field ciphertext is self-describing::

    offset  size  content
    0       1     format version (0x01)
    1       4     key id of the data key (big-endian u32, see `DataKey.key_id`)
    5       12    random nonce
    17      n+16  AES-256-GCM ciphertext of the n-byte plaintext, then the tag

The associated data is those first 17 bytes, the byte lengths of the subject
id, table and field (three big-endian u16), then those three in UTF-8, so
editing the header or moving the value to another subject, table or field
makes decryption fail.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.exceptions import InvalidTag

from crypto._data_key import DataKey
from crypto._encoding import SubjectId, subject_bytes
from crypto._errors import DecryptionFailed
from crypto._redacted import Redacted

__all__ = ["FIELD_OVERHEAD", "decrypt_field", "decrypt_field_text", "encrypt_field"]

_FORMAT_V1 = 1
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12
_TAG_BYTES = 16
_PREFIX_BYTES = _HEADER.size + _NONCE_BYTES
_LENGTHS = struct.Struct(">HHH")
FIELD_OVERHEAD = _PREFIX_BYTES + _TAG_BYTES
"""Bytes a field ciphertext adds to its plaintext (33)."""


def encrypt_field(
    key: DataKey,
    plaintext: bytes | str | Redacted[bytes] | Redacted[str],
    *,
    subject_id: SubjectId,
    table: str,
    field: str,
) -> bytes:
    """Encrypt one value for (subject, table, field) with a fresh random nonce.

    A ``str`` is encoded as UTF-8. The result is ``FIELD_OVERHEAD`` bytes longer
    than the encoded plaintext and differs on every call.
    """
    value = plaintext.reveal() if isinstance(plaintext, Redacted) else plaintext
    data = value.encode("utf-8") if isinstance(value, str) else value
    prefix = _HEADER.pack(_FORMAT_V1, key.key_id) + secrets.token_bytes(_NONCE_BYTES)
    sealed = key.aead.encrypt(prefix[_HEADER.size :], data, _associated_data(prefix, subject_id, table, field))
    return prefix + sealed


def decrypt_field(key: DataKey, blob: bytes, *, subject_id: SubjectId, table: str, field: str) -> Redacted[bytes]:
    """Decrypt a value written by `encrypt_field` for the same subject, table and field.

    Raises `DecryptionFailed` if anything about it is wrong (format, key,
    binding, any changed bit); never returns a partial or garbled value.
    """
    if len(blob) < FIELD_OVERHEAD:
        raise DecryptionFailed(f"{table}.{field}: ciphertext is too short to be a field ciphertext")
    version, key_id = _HEADER.unpack_from(blob)
    if version != _FORMAT_V1:
        raise DecryptionFailed(f"{table}.{field}: unknown ciphertext format version {version}")
    if key_id != key.key_id:
        raise DecryptionFailed(f"{table}.{field}: ciphertext was made with a different data key")
    prefix = blob[:_PREFIX_BYTES]
    try:
        data: bytes | None = key.aead.decrypt(
            prefix[_HEADER.size :], blob[_PREFIX_BYTES:], _associated_data(prefix, subject_id, table, field)
        )
    except InvalidTag:
        data = None
    if data is None:
        raise DecryptionFailed(
            f"{table}.{field}: ciphertext failed authentication (altered, or bound to another subject, table or field)"
        )
    return Redacted(data)


def decrypt_field_text(key: DataKey, blob: bytes, *, subject_id: SubjectId, table: str, field: str) -> Redacted[str]:
    """`decrypt_field` for a value that was encrypted as text."""
    data = decrypt_field(key, blob, subject_id=subject_id, table=table, field=field).reveal()
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        # The codec's message quotes the offending bytes: raise ours outside this block.
        text = None
    if text is None:
        raise DecryptionFailed(f"{table}.{field}: decrypted value is not UTF-8 text")
    return Redacted(text)


def _associated_data(prefix: bytes, subject_id: SubjectId, table: str, field: str) -> bytes:
    # Lengths first, then the three names: no two (subject, table, field) share bytes.
    # One struct call rather than a generic helper: this runs on every field.
    subject, table_name, field_name = subject_bytes(subject_id), table.encode(), field.encode()
    try:
        lengths = _LENGTHS.pack(len(subject), len(table_name), len(field_name))
    except struct.error:
        lengths = b""
    if not lengths:
        raise ValueError("a subject id, table or field name is longer than 65535 bytes")
    return prefix + lengths + subject + table_name + field_name
