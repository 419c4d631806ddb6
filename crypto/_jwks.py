"""Public Ed25519 keys as JWKs (RFC 8037) and JWK Sets (RFC 7517)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto._encoding import b64url_decode, b64url_encode
from crypto._errors import KeyMaterialError

__all__ = ["JsonWebKey", "JsonWebKeySet", "PublicKeySet", "public_keys_from_jwks"]

JsonWebKey = dict[str, str]
JsonWebKeySet = dict[str, list[JsonWebKey]]

_ED25519_PUBLIC_BYTES = 32


class PublicKeySet:
    """Ed25519 public keys by ``kid``: what a receipt is verified against.

    Built once (from a signing key ring, or from a published JWKS document), it
    holds ready-to-use public key objects and their JWKs, in publication order.
    """

    __slots__ = ("_jwks", "_keys")

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)
        self._jwks = tuple(_jwk(kid, key) for kid, key in self._keys.items())

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids, in publication order."""
        return tuple(self._keys)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid``, or None."""
        return self._keys.get(kid)

    def jwks(self) -> JsonWebKeySet:
        """A fresh JWKS document (``{"keys": [...]}``) of every key, safe to mutate."""
        return {"keys": [dict(jwk) for jwk in self._jwks]}

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"PublicKeySet(kids={self.kids})"


def public_keys_from_jwks(document: Mapping[str, object] | str | bytes) -> PublicKeySet:
    """Parse a JWKS document (as a mapping or as JSON) into a `PublicKeySet`.

    Keys that are not Ed25519 signing keys are skipped, as RFC 7517 §5 asks; a
    malformed Ed25519 key, a repeated ``kid`` or any private key material raises
    `KeyMaterialError`. Parse once and reuse the result: it builds key objects.
    """
    parsed: object = document
    if isinstance(document, str | bytes):
        try:
            parsed = msgspec.json.decode(document)
        except msgspec.DecodeError:
            parsed = None
    entries = parsed.get("keys") if isinstance(parsed, Mapping) else None
    if not isinstance(entries, list):
        raise KeyMaterialError('JWKS document must be an object with a "keys" array')
    keys: dict[str, Ed25519PublicKey] = {}
    for position, jwk in enumerate(entries, start=1):
        if not isinstance(jwk, Mapping):
            raise KeyMaterialError(f"JWKS key {position} is not an object")
        if "d" in jwk:
            raise KeyMaterialError(f"JWKS key {position} contains private key material; never publish it")
        if not _is_ed25519_signing_key(jwk):
            continue
        kid, x = jwk.get("kid"), jwk.get("x")
        if not isinstance(kid, str) or not kid:
            raise KeyMaterialError(f'JWKS key {position} has no "kid"')
        if kid in keys:
            raise KeyMaterialError(f"JWKS key {position}: kid {kid!r} appears twice")
        keys[kid] = _public_key(x, position)
    return PublicKeySet(keys)


def _is_ed25519_signing_key(jwk: Mapping[str, object]) -> bool:
    return (
        jwk.get("kty") == "OKP"
        and jwk.get("crv") == "Ed25519"
        and jwk.get("use", "sig") == "sig"
        and jwk.get("alg", "EdDSA") == "EdDSA"
    )


def _public_key(x: object, position: int) -> Ed25519PublicKey:
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    if len(raw) == _ED25519_PUBLIC_BYTES:
        try:
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            pass
    raise KeyMaterialError(f'JWKS key {position}: "x" is not a base64url Ed25519 public key')


def _jwk(kid: str, key: Ed25519PublicKey) -> JsonWebKey:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(key.public_bytes_raw()),
        "kid": kid,
        "use": "sig",
        "alg": "EdDSA",
    }
