"""Link tokens: a bearer credential for a one-time download, derived under a subject's data key.

``token = HMAC-SHA256(data key, label || nonce)``, 256 bits. The service keeps only the random
nonce and the SHA-256 of the token: with the database alone (no master key, hence no data key)
a link cannot be rebuilt, yet the service can show it again while the subject's key exists, and
erasing the subject (destroying the key) retires every link of theirs with it.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.hazmat.primitives import hashes, hmac

from crypto._data_key import DataKey

__all__ = ["LINK_NONCE_BYTES", "link_token", "link_token_hash", "new_link_nonce"]

LINK_NONCE_BYTES = 32
_LABEL = b"consent/link-token/v1\x00"


def new_link_nonce() -> bytes:
    """A fresh random nonce from the operating system's CSPRNG."""
    return secrets.token_bytes(LINK_NONCE_BYTES)


def link_token(key: DataKey, nonce: bytes) -> bytes:
    """The 32-byte token of `nonce` under the subject's data key (separated from every other use of the key)."""
    if len(nonce) != LINK_NONCE_BYTES:
        raise ValueError(f"a link nonce is {LINK_NONCE_BYTES} bytes")
    mac = hmac.HMAC(key.reveal(), hashes.SHA256())
    mac.update(_LABEL + nonce)
    return mac.finalize()


def link_token_hash(token: bytes) -> bytes:
    """What is stored to find a token again: its SHA-256."""
    return hashlib.sha256(token).digest()
