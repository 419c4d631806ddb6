"""Byte encodings shared by the key parsers, the envelope and the JWS code.

Decoders here are strict on purpose: a base64 string has exactly one accepted
spelling, so two different texts can never decode to the same key or signature.
They raise a bare `ValueError` with no chained exception, for callers to turn
into their own error.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeAlias
from uuid import UUID

__all__ = [
    "SubjectId",
    "b64_decode",
    "b64_encode",
    "b64url_decode",
    "b64url_encode",
    "subject_bytes",
]

SubjectId: TypeAlias = str | UUID
"""A subject's internal id; a `UUID` is bound as its canonical text form."""


def b64_encode(data: bytes) -> str:
    """Standard base64 with padding: how keys are written in env vars and key files."""
    return base64.b64encode(data).decode("ascii")


def b64_decode(text: str) -> bytes:
    """Decode standard, padded base64; raise `ValueError` (without the text) otherwise."""
    try:
        data: bytes | None = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        data = None
    if data is None:
        raise ValueError("not valid base64")
    return data


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE (RFC 7515 §2) requires."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the canonical spelling.

    The standard decoder skips characters outside the alphabet and ignores the
    unused low bits of the last character, so several texts decode to the same
    bytes. Re-encoding and comparing rejects all of them: a JWS edited in any one
    character can then never verify.
    """
    try:
        data: bytes | None = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        data = None
    if data is None or b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def subject_bytes(subject_id: SubjectId) -> bytes:
    """The bytes that bind a value to a subject in associated data."""
    return str(subject_id).encode("utf-8")
