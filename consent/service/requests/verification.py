"""One-time verification codes: made here, delivered by the policy's verification recipient.

The code is eight characters from an alphabet without look-alikes (40 bits); only a salted
SHA-256 of it is stored, bound to its request. It expires, and a few wrong tries use it up: a
request that cannot be verified is rejected, and the person may ask again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from uuid import UUID

from consent.ids import uuid7
from consent.store import requests as store
from consent.store.outbox import OutboxRow
from consent.store.pool import Connection

__all__ = ["CODE_KIND", "CODE_LIFETIME", "MAX_ATTEMPTS", "code_matches", "issue_code"]

CODE_LIFETIME = timedelta(hours=24)
MAX_ATTEMPTS = 5
CODE_KIND = "verification.code"
"""The outbox message kind the delivery worker posts to the verification recipient."""
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LENGTH = 8


def _hash(salt: bytes, request_id: UUID, code: str) -> bytes:
    return hashlib.sha256(salt + request_id.bytes + code.strip().upper().encode()).digest()


def code_matches(salt: bytes, code_hash: bytes, request_id: UUID, code: str) -> bool:
    """Whether `code` is the one issued for `request_id` (in constant time; case and spaces ignored)."""
    return hmac.compare_digest(_hash(salt, request_id, code), code_hash)


async def issue_code(conn: Connection, request_id: UUID, subject_id: UUID, *, recipient: str, now: datetime) -> None:
    """Make a code for the request, store its hash and enqueue it for the verification recipient.

    The message holds the code and the request id only: the recipient looks the person up by
    its own means (it already knows how to reach its users).
    """
    code = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    salt = secrets.token_bytes(16)
    await store.insert_verification(
        conn, request_id, salt=salt, code_hash=_hash(salt, request_id, code), expires_at=now + CODE_LIFETIME, at=now
    )
    message = OutboxRow(
        id=uuid7(),
        recipient=recipient,
        subject_id=subject_id,
        kind=CODE_KIND,
        payload={"request_id": str(request_id), "code": code},
        created_at=now,
    )
    await store.enqueue(conn, message)
