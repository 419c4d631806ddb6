"""Signed audit checkpoints: a Merkle root over a range of audit entries, chained and signed.

A checkpoint's statement is a small JSON document signed as a compact JWS
(EdDSA, ``typ`` ``consent-audit-checkpoint``) with an *audit* key, a ring of its
own so that a receipt key can never sign a checkpoint nor the other way round.
Its hash, ``SHA-256`` of the exact payload bytes the signature covers, is what
the next checkpoint names as ``prev`` (the first names 32 zero bytes), and what
an operator keeps elsewhere to detect a truncated trail.

>>> ring = parse_signing_keys(generate_signing_key_entry("audit-1"))
>>> token = sign_checkpoint(Checkpoint(seq=1, count=1, size=1, last_position=7, root="00" * 32,
...                                    prev=GENESIS_HASH.hex(), signed_at="2026-01-01T00:00:00.000000+00:00"), ring)
>>> read_checkpoint(token.token, ring).checkpoint.seq
1
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

import msgspec

from crypto._encoding import b64url_decode
from crypto._errors import VerificationFailed
from crypto._jwks import PublicKeySet
from crypto._jws import sign_jws, verify_jws
from crypto._signing_keys import SigningKeyRing, generate_signing_key_entry

__all__ = [
    "CHECKPOINT_TYP",
    "GENESIS_HASH",
    "Checkpoint",
    "ReadCheckpoint",
    "SignedCheckpoint",
    "generate_audit_key_file_text",
    "read_checkpoint",
    "sign_checkpoint",
]

CHECKPOINT_TYP = "consent-audit-checkpoint"
GENESIS_HASH = bytes(32)


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What a checkpoint states (field order is the wire order).

    ``count`` entries, the ones after the previous checkpoint's ``last_position`` up
    to and including this ``last_position`` in position order, have the Merkle
    ``root``; ``size`` counts every entry up to here, all checkpoints included.
    """

    seq: int
    count: int
    size: int
    last_position: int
    root: str  # hex
    prev: str  # hex of the previous checkpoint's hash
    signed_at: str  # ISO 8601, UTC


class ReadCheckpoint(msgspec.Struct, kw_only=True, frozen=True):
    """A checkpoint whose signature verified, with its hash."""

    checkpoint: Checkpoint
    hash: bytes
    kid: str


_encode = msgspec.json.Encoder().encode


class SignedCheckpoint(msgspec.Struct, kw_only=True, frozen=True):
    """A checkpoint as signed: the compact JWS and the hash the next checkpoint names."""

    token: str
    hash: bytes


def sign_checkpoint(checkpoint: Checkpoint, ring: SigningKeyRing) -> SignedCheckpoint:
    """``checkpoint`` signed with the ring's current audit key."""
    payload = _encode(checkpoint)
    return SignedCheckpoint(token=sign_jws(payload, ring, typ=CHECKPOINT_TYP), hash=hashlib.sha256(payload).digest())


def read_checkpoint(token: str, keys: SigningKeyRing | PublicKeySet | Mapping[str, object]) -> ReadCheckpoint:
    """Verify a checkpoint's signature and decode it; `VerificationFailed` if anything is wrong."""
    payload = verify_jws(token, keys, typ=CHECKPOINT_TYP)
    try:
        checkpoint = msgspec.json.decode(payload, type=Checkpoint)
    except msgspec.DecodeError:
        raise VerificationFailed("checkpoint payload is malformed") from None
    # verify_jws has already decoded this header and found the kid in `keys`.
    kid = msgspec.json.decode(b64url_decode(token.split(".", 1)[0]))["kid"]
    return ReadCheckpoint(checkpoint=checkpoint, hash=hashlib.sha256(payload).digest(), kid=kid)


def generate_audit_key_file_text(kid: str | None = None) -> str:
    """The text of a new audit signing key file holding one random Ed25519 key (no I/O)."""
    return (
        "# consent audit checkpoint signing keys (Ed25519): one KID:BASE64-SEED per line; the FIRST line signs.\n"
        "# Later lines only keep old checkpoints verifiable; every key is published at /.well-known/audit-keys.json.\n"
        "# Keep this file secret (mode 0600), outside the database and its backups.\n"
        f"{generate_signing_key_entry(kid or f'audit-{secrets.token_hex(4)}')}\n"
    )
