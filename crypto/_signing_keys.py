"""The receipt signing key ring: Ed25519 keys, each named by a ``kid``.

The first key listed signs; the others stay only so that receipts they signed
remain verifiable, and all of them are published in the JWKS.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto._encoding import b64url_encode
from crypto._errors import KeyMaterialError
from crypto._jwks import PublicKeySet
from crypto._key_text import format_entry, iter_entries

__all__ = [
    "SigningKey",
    "SigningKeyRing",
    "generate_signing_key_entry",
    "generate_signing_key_file_text",
    "parse_signing_key_file",
    "parse_signing_keys",
]

SEED_BYTES = 32
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SigningKey:
    """One Ed25519 private key with its ``kid`` and its precomputed JWS header.

    ``header`` is the base64url JWS protected header
    ``{"alg":"EdDSA","kid":...,"typ":"JWT"}``, encoded once so signing costs only
    the signature. The repr shows the kid, never the key.
    """

    __slots__ = ("header", "kid", "private_key")

    def __init__(self, kid: str, seed: bytes) -> None:
        if _KID.fullmatch(kid) is None:
            raise KeyMaterialError("a signing key kid must be 1-64 characters of A-Z a-z 0-9 . _ -")
        if len(seed) != SEED_BYTES:
            raise KeyMaterialError(f"signing key {kid!r}: the seed must be {SEED_BYTES} bytes, got {len(seed)}")
        self.kid = kid
        self.private_key = Ed25519PrivateKey.from_private_bytes(seed)
        self.header = encode_header(kid, "JWT")

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, private_key=[REDACTED])"


class SigningKeyRing:
    """Ed25519 signing keys; the first is current and signs new receipts.

    >>> ring = parse_signing_keys(generate_signing_key_entry("2025-a"))
    >>> ring.current.kid
    '2025-a'
    """

    __slots__ = ("_keys", "_public_keys")

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise KeyMaterialError("the signing key ring is empty: configure at least one key")
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise KeyMaterialError(f"signing key kid {key.kid!r} appears twice")
            by_kid[key.kid] = key
        self._keys = tuple(keys)
        self._public_keys = PublicKeySet({key.kid: key.private_key.public_key() for key in keys})

    @property
    def current(self) -> SigningKey:
        """The key that signs new receipts."""
        return self._keys[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every kid, current first."""
        return tuple(key.kid for key in self._keys)

    @property
    def public_keys(self) -> PublicKeySet:
        """The public halves of every key, built once."""
        return self._public_keys

    def __repr__(self) -> str:
        return f"SigningKeyRing(current={self.current.kid!r}, kids={self.kids})"


def parse_signing_keys(text: str) -> SigningKeyRing:
    """Parse ``CONSENT_SIGNING_KEYS``: ``KID:BASE64-SEED`` entries separated by commas.

    The first entry signs; list the newest first. Raises `KeyMaterialError`.
    """
    return _ring_from(text, file=False)


def parse_signing_key_file(text: str) -> SigningKeyRing:
    """Parse signing key file text: one ``KID:BASE64-SEED`` per line, first line signs.

    Blank lines and ``#`` comments are ignored. Raises `KeyMaterialError`.
    """
    return _ring_from(text, file=True)


def generate_signing_key_entry(kid: str | None = None) -> str:
    """A new random ``KID:BASE64-SEED`` entry; without a kid, a random one is chosen."""
    chosen = kid if kid is not None else f"sig-{secrets.token_hex(4)}"
    if _KID.fullmatch(chosen) is None:
        raise KeyMaterialError("a signing key kid must be 1-64 characters of A-Z a-z 0-9 . _ -")
    return format_entry(chosen, Ed25519PrivateKey.generate().private_bytes_raw())


def generate_signing_key_file_text(kid: str | None = None) -> str:
    """The text of a new development signing key file holding one random key.

    The caller writes it with mode 0600; this function does no I/O.
    """
    return (
        "# consent receipt signing keys (Ed25519): one KID:BASE64-SEED per line; the FIRST line signs.\n"
        "# Later lines only keep old receipts verifiable; every key is published in the JWKS.\n"
        "# Keep this file secret (mode 0600), outside the database and its backups.\n"
        f"{generate_signing_key_entry(kid)}\n"
    )


def encode_header(kid: str, typ: str) -> str:
    """The base64url JWS protected header for ``kid`` and ``typ``."""
    return b64url_encode(msgspec.json.encode({"alg": "EdDSA", "kid": kid, "typ": typ}))


def _ring_from(text: str, *, file: bool) -> SigningKeyRing:
    keys: list[SigningKey] = []
    for entry in iter_entries(text, what="signing key", file=file):
        if _KID.fullmatch(entry.label) is None:
            raise KeyMaterialError(f"signing key {entry.where}: the kid must be 1-64 characters of A-Z a-z 0-9 . _ -")
        if len(entry.material) != SEED_BYTES:
            raise KeyMaterialError(
                f"signing key {entry.where}: the seed must be {SEED_BYTES} bytes, got {len(entry.material)}"
            )
        keys.append(SigningKey(entry.label, entry.material))
    return SigningKeyRing(keys)
