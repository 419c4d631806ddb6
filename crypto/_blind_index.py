"""Blind indexes: keyed, truncated hashes of identifiers for exact lookup.

``blind_index = HMAC-SHA256(field key, normalised value)[:length]``, where each
identifier kind has its own field key, derived once with HKDF-SHA256 from the
index root key (``CONSENT_INDEX_KEY``), which is separate from the master keys.
Indexes are truncated on purpose: a lookup returns a few candidate subjects and
the service confirms each by decrypting; see docs/security.md for the lengths.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto._encoding import b64_decode, b64_encode
from crypto._errors import KeyMaterialError
from crypto._identifiers import IDENTIFIER_KINDS, IdentifierKind, normalise_identifier

__all__ = ["BLIND_INDEX_LENGTHS", "IndexKey", "blind_index", "generate_index_key_text", "parse_index_key"]

INDEX_KEY_BYTES = 32
_HKDF_INFO = b"consent/blind-index/v1/"
_USER_AGENT_INFO = b"consent/proof/user-agent/v1"

BLIND_INDEX_LENGTHS: Final[Mapping[IdentifierKind, int]] = MappingProxyType(
    {
        # Guessable or enumerable values that mean something outside this service:
        # 24 bits keeps a stolen index key from pinning most of them down (each
        # stored index matches thousands of phone numbers or breached emails).
        "email": 3,
        "phone": 3,
        "user_id": 3,
        # Random ids minted by the snippet, the largest population, and on the
        # check hot path: 32 bits keeps candidates near one even at 10^9 devices.
        "device_id": 4,
    }
)
"""Stored blind index length in bytes, per identifier kind."""


class IndexKey:
    """The blind-index root key, with one HMAC-SHA256 context per identifier kind.

    The per-kind keys are derived once, here; computing an index afterwards is a
    copy of a keyed HMAC context plus one update. The root key itself is not kept.
    """

    __slots__ = ("_macs", "_user_agent_mac")

    def __init__(self, root: bytes) -> None:
        if len(root) != INDEX_KEY_BYTES:
            raise KeyMaterialError(f"the index key must be {INDEX_KEY_BYTES} bytes, got {len(root)}")
        self._macs = {kind: hmac.HMAC(_field_key(root, kind), hashes.SHA256()) for kind in IDENTIFIER_KINDS}
        self._user_agent_mac = hmac.HMAC(_derive(root, _USER_AGENT_INFO), hashes.SHA256())

    def digest(self, kind: IdentifierKind, normalised: str) -> bytes:
        """The truncated index of an already normalised value (see `blind_index`)."""
        mac = self._macs[kind].copy()
        mac.update(normalised.encode("utf-8"))
        return mac.finalize()[: BLIND_INDEX_LENGTHS[kind]]

    def user_agent_proof(self, user_agent_sha256: str) -> str:
        """The keyed digest a consent proof keeps of a user agent, from its SHA-256 (hex).

        A plain SHA-256 of a user agent is the user agent to anyone holding a list of them; this
        HMAC (under its own key derived from the index root key) is not, without the key. It is
        taken over the SHA-256 rather than the text so that proofs stored with the plain digest
        can be converted without the user agent.
        """
        mac = self._user_agent_mac.copy()
        mac.update(user_agent_sha256.encode("ascii"))
        return mac.finalize().hex()

    def __repr__(self) -> str:
        return "IndexKey([REDACTED])"


def blind_index(index_key: IndexKey, field: IdentifierKind, value: str, *, default_region: str | None = None) -> bytes:
    """The blind index of identifier ``value`` of kind ``field``.

    The value is normalised first (`normalise_identifier`), so ``" Ada@Example.org"``
    and ``"ada@example.org"`` give the same index. Raises `InvalidIdentifier`.
    """
    return index_key.digest(field, normalise_identifier(field, value, default_region=default_region))


def parse_index_key(text: str) -> IndexKey:
    """Parse ``CONSENT_INDEX_KEY``: standard padded base64 of 32 random bytes."""
    try:
        root: bytes | None = b64_decode(text.strip())
    except ValueError:
        root = None
    if root is None:
        raise KeyMaterialError("the index key is not valid padded base64")
    return IndexKey(root)


def generate_index_key_text() -> str:
    """A new random index root key in the ``CONSENT_INDEX_KEY`` format."""
    return b64_encode(secrets.token_bytes(INDEX_KEY_BYTES))


def _field_key(root: bytes, kind: IdentifierKind) -> bytes:
    return _derive(root, _HKDF_INFO + kind.encode("ascii"))


def _derive(root: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)
