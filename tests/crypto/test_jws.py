"""Compact JWS receipts: signed with the current key, verifiable with the published JWKS."""

from __future__ import annotations

import base64
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    SigningKey,
    SigningKeyRing,
    VerificationFailed,
    jwks,
    public_keys_from_jwks,
    sign_jws,
    verify_jws,
)

RECEIPT = b'{"receipt_id":"r-1","purposes":[{"purpose":"analytics","status":"granted"}]}'
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def header_of(token: str) -> dict[str, object]:
    part = token.split(".", maxsplit=1)[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def forged(ring: SigningKeyRing, header: dict[str, object], payload: bytes = RECEIPT) -> str:
    """A token with a custom header, correctly signed by the ring's current key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    signature = ring.current.private_key.sign(signing_input.encode())
    return f"{signing_input}.{b64url(signature)}"


def test_the_header_names_the_algorithm_and_the_current_kid(signing_ring: SigningKeyRing) -> None:
    token = sign_jws(RECEIPT, signing_ring)

    assert header_of(token) == {"alg": "EdDSA", "kid": "2025-b", "typ": "JWT"}


def test_a_custom_typ_is_written_and_can_be_required(signing_ring: SigningKeyRing) -> None:
    token = sign_jws(RECEIPT, signing_ring, typ="consent-receipt+jwt")

    assert header_of(token)["typ"] == "consent-receipt+jwt"
    assert verify_jws(token, signing_ring, typ="consent-receipt+jwt") == RECEIPT
    with pytest.raises(VerificationFailed):
        verify_jws(sign_jws(RECEIPT, signing_ring), signing_ring, typ="consent-receipt+jwt")


@given(payload=st.binary(max_size=512))
def test_any_payload_verifies_with_the_published_jwks(signing_ring: SigningKeyRing, payload: bytes) -> None:
    published = json.loads(json.dumps(jwks(signing_ring)))

    assert verify_jws(sign_jws(payload, signing_ring), published) == payload


def test_a_token_verifies_with_the_ring_and_with_a_parsed_key_set(signing_ring: SigningKeyRing) -> None:
    token = sign_jws(RECEIPT, signing_ring)
    parsed = public_keys_from_jwks(msgspec.json.encode(jwks(signing_ring)))

    assert verify_jws(token, signing_ring) == RECEIPT
    assert verify_jws(token, parsed) == RECEIPT


@given(data=st.data())
def test_any_single_character_change_fails(signing_ring: SigningKeyRing, data: st.DataObject) -> None:
    token = sign_jws(RECEIPT, signing_ring)
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    replacement = data.draw(
        st.sampled_from(B64URL + ".=+/ é").filter(lambda c: c != token[position]), label="replacement"
    )
    tampered = token[:position] + replacement + token[position + 1 :]

    with pytest.raises(VerificationFailed):
        verify_jws(tampered, signing_ring)


def test_receipts_signed_by_an_older_key_still_verify_after_rotation() -> None:
    old = SigningKey("2025-a", bytes([4]) * 32)
    token = sign_jws(RECEIPT, SigningKeyRing([old]))
    rotated = SigningKeyRing([SigningKey("2025-b", bytes([3]) * 32), old])

    assert verify_jws(token, jwks(rotated)) == RECEIPT
    assert header_of(sign_jws(RECEIPT, rotated))["kid"] == "2025-b"


def test_a_token_from_another_key_with_the_same_kid_fails(signing_ring: SigningKeyRing) -> None:
    impostor = SigningKeyRing([SigningKey("2025-b", bytes([5]) * 32)])

    with pytest.raises(VerificationFailed):
        verify_jws(sign_jws(RECEIPT, impostor), signing_ring)


def test_an_unknown_kid_fails(signing_ring: SigningKeyRing) -> None:
    stranger = SigningKeyRing([SigningKey("elsewhere", bytes([5]) * 32)])

    with pytest.raises(VerificationFailed, match="kid"):
        verify_jws(sign_jws(RECEIPT, stranger), signing_ring)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "kid": "2025-b"},
        {"alg": "HS256", "kid": "2025-b"},
        {"alg": "EdDSA"},
        {"alg": "EdDSA", "kid": "2025-b", "crit": ["exp"]},
        {"alg": "EdDSA", "kid": "2025-b", "jku": "https://attacker.example/jwks.json"},
    ],
)
def test_headers_we_did_not_write_fail(signing_ring: SigningKeyRing, header: dict[str, object]) -> None:
    with pytest.raises(VerificationFailed):
        verify_jws(forged(signing_ring, header), signing_ring)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "...", "ü.ü.ü", "e30.e30.e30"])
def test_garbage_fails(signing_ring: SigningKeyRing, token: str) -> None:
    with pytest.raises(VerificationFailed):
        verify_jws(token, signing_ring)
