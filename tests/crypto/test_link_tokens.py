"""Download-link tokens derived under a subject's data key."""

from __future__ import annotations

import hashlib

import pytest

from crypto import LINK_NONCE_BYTES, link_token, link_token_hash, new_data_key, new_link_nonce


def test_a_token_is_256_bits_and_the_same_for_the_same_key_and_nonce() -> None:
    key, nonce = new_data_key(), new_link_nonce()

    token = link_token(key, nonce)

    assert len(token) == 32
    assert link_token(key, nonce) == token


def test_another_key_or_nonce_gives_another_token() -> None:
    key, nonce = new_data_key(), new_link_nonce()

    assert link_token(new_data_key(), nonce) != link_token(key, nonce)
    assert link_token(key, new_link_nonce()) != link_token(key, nonce)


def test_the_token_is_not_the_nonce_nor_its_hash() -> None:
    key, nonce = new_data_key(), new_link_nonce()

    token = link_token(key, nonce)

    assert token not in (nonce, hashlib.sha256(nonce).digest())
    assert link_token_hash(token) == hashlib.sha256(token).digest()


def test_a_nonce_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="bytes"):
        link_token(new_data_key(), b"\x00" * (LINK_NONCE_BYTES - 1))
