"""Blind indexes: stable under normalisation, separate per key and per field, truncated."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    BLIND_INDEX_LENGTHS,
    IDENTIFIER_KINDS,
    IdentifierKind,
    IndexKey,
    InvalidIdentifier,
    KeyMaterialError,
    blind_index,
    generate_index_key_text,
    parse_index_key,
)
from tests.crypto.samples import leaked_by

ids = st.text(min_size=1, max_size=40)
emails = st.from_regex(r"[a-z0-9._+-]{1,20}@[a-z0-9]{1,12}\.[a-z]{2,6}", fullmatch=True)


@pytest.mark.parametrize("kind", IDENTIFIER_KINDS)
def test_each_kind_is_truncated_to_its_chosen_length(index_key: IndexKey, kind: IdentifierKind) -> None:
    value = {"email": "ada@example.org", "phone": "+16502530000", "device_id": "d_7Hq2xYzAbCdEfGhIjKlMnOp"}.get(
        kind, "u-42"
    )

    assert len(blind_index(index_key, kind, value)) == BLIND_INDEX_LENGTHS[kind]


def test_lengths_are_the_documented_ones() -> None:
    assert dict(BLIND_INDEX_LENGTHS) == {"email": 3, "phone": 3, "user_id": 3, "device_id": 4}


def test_the_construction_is_hkdf_then_truncated_hmac(index_key: IndexKey) -> None:
    # Stored indexes depend on this exact construction; it must never drift.
    field_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"consent/blind-index/v1/email").derive(
        bytes([7]) * 32
    )
    mac = hmac.HMAC(field_key, hashes.SHA256())
    mac.update(b"ada@example.org")

    assert blind_index(index_key, "email", "ada@example.org") == mac.finalize()[:3]


def test_a_pinned_index_never_changes(index_key: IndexKey) -> None:
    assert blind_index(index_key, "email", "ada@example.org").hex() == "8cb49c"


@given(email=emails, before=st.sampled_from(["", " ", "\t"]), after=st.sampled_from(["", " ", "\n"]))
def test_an_email_index_is_stable_under_case_and_whitespace(
    index_key: IndexKey, email: str, before: str, after: str
) -> None:
    assert blind_index(index_key, "email", before + email.upper() + after) == blind_index(index_key, "email", email)


@pytest.mark.parametrize(
    "variant", ["+1 650-253-0000", "(650) 253-0000", "650.253.0000", "+1 (650) 253 0000", "6502530000"]
)
def test_a_phone_index_is_stable_under_formatting(index_key: IndexKey, variant: str) -> None:
    assert blind_index(index_key, "phone", variant, default_region="US") == blind_index(
        index_key, "phone", "+16502530000"
    )


@given(value=ids)
def test_indexes_differ_across_index_keys(index_keys: tuple[IndexKey, IndexKey, IndexKey], value: str) -> None:
    # A 24-bit index collides under two keys with probability 2^-24; three keys
    # agreeing (2^-48) would mean the key is not in the computation.
    indexes = {blind_index(key, "user_id", value) for key in index_keys}

    assert len(indexes) > 1


@given(value=ids)
def test_indexes_differ_across_fields(index_key: IndexKey, value: str) -> None:
    indexes = {index_key.digest(kind, value) for kind in ("email", "phone", "user_id")}

    assert len(indexes) > 1


def test_device_ids_and_user_ids_never_share_an_index(index_key: IndexKey) -> None:
    same = "u-42-AbCdEfGhIjKlMnOpQrSt"
    assert blind_index(index_key, "device_id", same)[:3] != blind_index(index_key, "user_id", same)


def test_an_invalid_identifier_raises_without_echoing_it(index_key: IndexKey) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        blind_index(index_key, "phone", "call me on 0123")

    assert not leaked_by(caught.value, "0123")


def test_a_generated_index_key_parses() -> None:
    assert isinstance(parse_index_key(generate_index_key_text()), IndexKey)


def test_surrounding_whitespace_in_the_index_key_is_ignored() -> None:
    text = base64.b64encode(bytes([7]) * 32).decode()

    assert blind_index(parse_index_key(f" {text}\n"), "user_id", "u") == blind_index(
        IndexKey(bytes([7]) * 32), "user_id", "u"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "32 bytes"), ("not base64!", "base64"), (base64.b64encode(bytes(16)).decode(), "32 bytes")],
)
def test_a_malformed_index_key_is_refused(text: str, message: str) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        parse_index_key(text)


def test_the_index_key_repr_is_redacted(index_key: IndexKey) -> None:
    assert repr(index_key) == "IndexKey([REDACTED])"
