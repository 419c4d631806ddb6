"""The errors `crypto` raises.

Every message is written for an operator and is safe to log: no message ever
carries key material, a plaintext, or a value the caller asked us to normalise.
They are raised outside the ``except`` block that detected the problem, so no
library exception (whose message might quote its input) is chained to them,
not even as a suppressed ``__context__``.

    CryptoError
    ├── KeyMaterialError        key text, a key file or a JWKS could not be parsed
    ├── DecryptionFailed        a field ciphertext or a wrapped data key failed authentication
    │   └── UnknownKeyVersion   ...because it names a master key version the ring does not hold
    ├── InvalidIdentifier       an identifier cannot be normalised for a blind index
    └── VerificationFailed      a JWS is malformed, names an unknown kid, or its signature is wrong
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "DecryptionFailed",
    "InvalidIdentifier",
    "KeyMaterialError",
    "UnknownKeyVersion",
    "VerificationFailed",
]


class CryptoError(Exception):
    """Base class of every error `crypto` raises on purpose."""


class KeyMaterialError(CryptoError):
    """Key text, a key file or a JWKS document is malformed.

    The message names the entry (by position, or by version/kid once those parsed)
    and what is wrong with it, never the text itself: a half-pasted key is still a key.
    """


class DecryptionFailed(CryptoError):
    """A ciphertext or wrapped data key did not authenticate.

    Raised for every way a value can be wrong — a flipped bit, a truncated blob, an
    edited header, the wrong data key, or a value moved to another subject, table or
    field — because the caller must treat them all the same: the value is not ours
    to trust, and no partial plaintext is ever returned.
    """


class UnknownKeyVersion(DecryptionFailed):
    """A wrapped data key names a master key version the ring does not hold.

    A subclass of `DecryptionFailed` (the key cannot be unwrapped either way), kept
    apart so an operator can tell "a version was retired too early or is missing
    from this instance's configuration" from "the stored value was tampered with".
    """


class InvalidIdentifier(CryptoError):
    """An identifier (email, phone, user id, device id) cannot be normalised.

    The message says which kind of identifier and why, never the value.
    """


class VerificationFailed(CryptoError):
    """A compact JWS could not be verified.

    One error for a malformed token, an unsupported header, an unknown ``kid`` and a
    wrong signature: a receipt that does not verify is simply not a receipt.
    """
