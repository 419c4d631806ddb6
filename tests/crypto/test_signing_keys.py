"""Parsing the receipt signing key ring from CONSENT_SIGNING_KEYS and from a key file."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    KeyMaterialError,
    SigningKey,
    SigningKeyRing,
    generate_signing_key_entry,
    generate_signing_key_file_text,
    jwks,
    parse_signing_key_file,
    parse_signing_keys,
)
from tests.crypto.samples import leaked_by

SEED_A = base64.b64encode(bytes([0xA1]) * 32).decode()
SEED_B = base64.b64encode(bytes([0xB2]) * 32).decode()
# RFC 8037 appendix A.1: this seed's public key is x below.
RFC8037_SEED = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def test_the_first_key_listed_signs() -> None:
    ring = parse_signing_keys(f"2025-b:{SEED_B},2025-a:{SEED_A}")

    assert ring.current.kid == "2025-b"
    assert ring.kids == ("2025-b", "2025-a")


def test_a_key_file_holds_one_key_per_line_first_signs() -> None:
    ring = parse_signing_key_file(f"# receipts\n\nnew:{SEED_B}  # since May\nold:{SEED_A}\n")

    assert ring.kids == ("new", "old")


def test_a_generated_key_file_parses() -> None:
    ring = parse_signing_key_file(generate_signing_key_file_text("dev-1"))

    assert ring.kids == ("dev-1",)


def test_a_generated_entry_gets_a_random_kid_by_default() -> None:
    first, second = generate_signing_key_entry(), generate_signing_key_entry()

    assert first.split(":")[0] != second.split(":")[0]
    assert parse_signing_keys(first).current.kid.startswith("sig-")


def test_the_public_key_follows_rfc_8037() -> None:
    ring = SigningKeyRing([SigningKey("rfc", RFC8037_SEED)])

    assert jwks(ring)["keys"][0]["x"] == RFC8037_X


def test_reprs_show_kids_only() -> None:
    ring = parse_signing_keys(f"k1:{SEED_A}")

    assert repr(ring) == "SigningKeyRing(current='k1', kids=('k1',))"
    assert repr(ring.current) == "SigningKey(kid='k1', private_key=[REDACTED])"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (SEED_A, "LABEL:BASE64"),
        (f"has space:{SEED_A}", "kid must be"),
        (f"{'k' * 65}:{SEED_A}", "kid must be"),
        (f"k:{SEED_A[:-2]}", "base64"),
        ("k:" + base64.b64encode(bytes(64)).decode(), "32 bytes"),
        (f"k:{SEED_A},k:{SEED_B}", "appears twice"),
    ],
)
def test_malformed_signing_key_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        parse_signing_keys(text)


def test_a_generated_entry_refuses_a_bad_kid() -> None:
    with pytest.raises(KeyMaterialError):
        generate_signing_key_entry("no spaces")


@given(
    # Any length but the right one, so that every shape below is malformed.
    material=st.binary(min_size=1, max_size=64).filter(lambda m: len(m) != 32),
    shape=st.sampled_from(["{key}", "bad kid:{key}", "k:{key}!", "k:{key}", "{key}:k", "k:{key},k:{key}"]),
)
def test_errors_never_contain_key_material(material: bytes, shape: str) -> None:
    encoded = base64.b64encode(material).decode()

    with pytest.raises(KeyMaterialError) as caught:
        parse_signing_keys(shape.format(key=encoded))

    assert not leaked_by(caught.value, encoded)
    assert not leaked_by(caught.value, encoded[:8])
