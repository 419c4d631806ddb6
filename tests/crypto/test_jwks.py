"""The published key set: RFC 8037 JWKs of every signing key, and parsing one back."""

from __future__ import annotations

import base64

import pytest

from crypto import KeyMaterialError, PublicKeySet, SigningKeyRing, jwks, public_keys_from_jwks


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwks_lists_every_key_as_an_rfc_8037_okp_key(signing_ring: SigningKeyRing) -> None:
    document = jwks(signing_ring)

    assert [key["kid"] for key in document["keys"]] == ["2025-b", "2025-a"]
    for key in document["keys"]:
        assert key.keys() == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        assert len(base64.urlsafe_b64decode(key["x"] + "=")) == 32


def test_jwks_returns_a_fresh_document_each_time(signing_ring: SigningKeyRing) -> None:
    jwks(signing_ring)["keys"][0]["kid"] = "tampered"

    assert jwks(signing_ring)["keys"][0]["kid"] == "2025-b"


def test_a_key_set_skips_keys_it_does_not_understand(signing_ring: SigningKeyRing) -> None:
    document = jwks(signing_ring)
    document["keys"].insert(0, {"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"})
    document["keys"].append({"kty": "OKP", "crv": "X25519", "kid": "ecdh", "x": "AAAA"})

    assert public_keys_from_jwks(document).kids == ("2025-b", "2025-a")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "keys"),
        ({"keys": "nope"}, "keys"),
        ({"keys": ["nope"]}, "not an object"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k"}]}, '"x"'),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(32))}]}, "kid"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(32)), "kid": "k", "d": "AAAA"}]}, "private"),
    ],
)
def test_a_malformed_key_set_is_refused(document: object, message: str) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        public_keys_from_jwks(document)  # type: ignore[arg-type]


def test_a_key_set_refuses_a_repeated_kid(signing_ring: SigningKeyRing) -> None:
    document = jwks(signing_ring)
    document["keys"].append(dict(document["keys"][0]))

    with pytest.raises(KeyMaterialError, match="twice"):
        public_keys_from_jwks(document)


def test_a_public_key_set_is_what_a_ring_publishes(signing_ring: SigningKeyRing) -> None:
    keys = signing_ring.public_keys

    assert isinstance(keys, PublicKeySet)
    assert list(keys) == ["2025-b", "2025-a"]
    assert jwks(keys) == jwks(signing_ring)
