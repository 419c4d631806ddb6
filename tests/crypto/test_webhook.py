"""Webhook signatures: a known answer, verification, and what must fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import sign_webhook, verify_webhook

SECRET = b"whsec_test"
TIMESTAMP = "1700000000"
BODY = b'{"event_id":"0190a1b2-0000-7000-8000-000000000000","type":"consent.changed"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, TIMESTAMP.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, TIMESTAMP, BODY) == f"v1={expected}"


def test_a_known_answer_stays_stable() -> None:
    assert sign_webhook(b"secret", "1", b"{}") == ("v1=" + hmac.new(b"secret", b"1.{}", hashlib.sha256).hexdigest())


@given(secret=st.binary(min_size=1, max_size=64), timestamp=st.integers(0, 2**40).map(str), body=st.binary())
def test_a_signature_verifies_and_a_changed_body_or_timestamp_does_not(
    secret: bytes, timestamp: str, body: bytes
) -> None:
    signature = sign_webhook(secret, timestamp, body)
    assert verify_webhook(secret, timestamp, body, signature)
    assert not verify_webhook(secret, timestamp, body + b" ", signature)
    assert not verify_webhook(secret, timestamp + "0", body, signature)
    assert not verify_webhook(secret + b"x", timestamp, body, signature)


def test_verification_accepts_one_of_several_signatures_and_ignores_malformed_ones() -> None:
    good = sign_webhook(SECRET, TIMESTAMP, BODY)
    assert verify_webhook(SECRET, TIMESTAMP, BODY, f"v0=abcd, v1=zz, {good}")
    assert not verify_webhook(SECRET, TIMESTAMP, BODY, "v1=zz")
    assert not verify_webhook(SECRET, TIMESTAMP, BODY, good.replace("v1=", "v2="))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign_webhook(b"", TIMESTAMP, BODY)
