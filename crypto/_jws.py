"""Compact JWS (RFC 7515) with EdDSA/Ed25519 (RFC 8037), for signed receipts."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from cryptography.exceptions import InvalidSignature

from crypto._encoding import b64url_decode, b64url_encode
from crypto._errors import VerificationFailed
from crypto._jwks import JsonWebKeySet, PublicKeySet, public_keys_from_jwks
from crypto._signing_keys import SigningKeyRing, encode_header

__all__ = ["jwks", "sign_jws", "verify_jws"]

_DEFAULT_TYP = "JWT"
_SIGNATURE_BYTES = 64


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    # Unknown members (``crit`` above all) are refused: we only accept headers we
    # wrote, and RFC 7515 §4.1.11 forbids ignoring a ``crit`` we do not understand.
    alg: str
    kid: str
    typ: str | None = None


def sign_jws(payload: bytes, ring: SigningKeyRing, *, typ: str = _DEFAULT_TYP) -> str:
    """Sign ``payload`` with the ring's current key; return the compact JWS.

    The protected header is ``{"alg":"EdDSA","kid":<current kid>,"typ":<typ>}``.
    """
    key = ring.current
    header = key.header if typ == _DEFAULT_TYP else encode_header(key.kid, typ)
    signing_input = f"{header}.{b64url_encode(payload)}"
    signature = key.private_key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def verify_jws(
    token: str,
    keys: SigningKeyRing | PublicKeySet | Mapping[str, object],
    *,
    typ: str | None = None,
) -> bytes:
    """Verify a compact JWS and return its payload.

    ``keys`` is a signing key ring, a `PublicKeySet`, or a JWKS document (parsed on
    every call, raising `KeyMaterialError` if malformed: prefer `public_keys_from_jwks`
    once). With ``typ``, the header's
    ``typ`` must equal it. Raises `VerificationFailed` for any malformed token,
    non-EdDSA header, unknown kid or wrong signature: every base64url part must be
    in its one canonical spelling, so no edited character can still verify.
    """
    public_keys = _public_keys(keys)
    parts = token.split(".") if token.isascii() else ()
    if len(parts) != 3:
        raise VerificationFailed("not a compact JWS (expected three base64url parts)")
    header_part, payload_part, signature_part = parts
    decoded = _decode(header_part, payload_part, signature_part)
    if decoded is None:
        raise VerificationFailed("JWS is malformed (bad base64url or protected header)")
    header, payload, signature = decoded
    if header.alg != "EdDSA":
        raise VerificationFailed("JWS algorithm is not EdDSA")
    if typ is not None and header.typ != typ:
        raise VerificationFailed(f"JWS typ is not {typ!r}")
    public_key = public_keys.get(header.kid)
    if public_key is None:
        raise VerificationFailed("JWS is signed with a key (kid) that is not in the key set")
    if len(signature) != _SIGNATURE_BYTES:
        raise VerificationFailed("JWS signature has the wrong length")
    try:
        public_key.verify(signature, f"{header_part}.{payload_part}".encode("ascii"))
        verified = True
    except InvalidSignature:
        verified = False
    if not verified:
        raise VerificationFailed("JWS signature does not verify")
    return payload


def jwks(keys: SigningKeyRing | PublicKeySet) -> JsonWebKeySet:
    """The JWKS document for ``/.well-known/jwks.json``: every public key, current first.

    Each key is an RFC 8037 OKP JWK: ``{"kty":"OKP","crv":"Ed25519","x":...,
    "kid":...,"use":"sig","alg":"EdDSA"}``. Old keys stay listed so that receipts
    they signed remain verifiable offline.
    """
    return _public_keys(keys).jwks()


def _decode(header_part: str, payload_part: str, signature_part: str) -> tuple[_Header, bytes, bytes] | None:
    try:
        return (
            msgspec.json.decode(b64url_decode(header_part), type=_Header),
            b64url_decode(payload_part),
            b64url_decode(signature_part),
        )
    except (ValueError, msgspec.DecodeError):
        return None


def _public_keys(keys: SigningKeyRing | PublicKeySet | Mapping[str, object]) -> PublicKeySet:
    if isinstance(keys, SigningKeyRing):
        return keys.public_keys
    if isinstance(keys, PublicKeySet):
        return keys
    return public_keys_from_jwks(keys)
