"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, with the recipient's secret.

    Consent-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The timestamp is signed with the body so a captured request cannot be replayed later under a
fresh timestamp; the receiver checks the timestamp is recent (the clock is the caller's: nothing
here reads it). `v1=` names the scheme, leaving room for another one beside it during a change.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

__all__ = ["WEBHOOK_SIGNATURE_SCHEME", "sign_webhook", "verify_webhook"]

WEBHOOK_SIGNATURE_SCHEME = "v1"


def _mac(secret: bytes, timestamp: str) -> hmac.HMAC:
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(timestamp.encode("ascii") + b".")
    return mac


def sign_webhook(secret: bytes, timestamp: str, body: bytes) -> str:
    """The `Consent-Signature` header value for `body` sent at `timestamp` (decimal Unix seconds).

    >>> sign_webhook(b"secret", "1700000000", b'{"event_id":"x"}')[:3]
    'v1='
    """
    mac = _mac(secret, timestamp)
    mac.update(body)
    return f"{WEBHOOK_SIGNATURE_SCHEME}={mac.finalize().hex()}"


def verify_webhook(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """True when `signature` (a header value, possibly several comma-separated) signs `body` at
    `timestamp`; compared in constant time."""
    for part in signature.split(","):
        scheme, _, value = part.strip().partition("=")
        try:
            candidate = bytes.fromhex(value)
        except ValueError:
            continue
        if scheme != WEBHOOK_SIGNATURE_SCHEME:
            continue
        mac = _mac(secret, timestamp)
        mac.update(body)
        try:
            mac.verify(candidate)  # constant time
        except InvalidSignature:
            continue
        return True
    return False
