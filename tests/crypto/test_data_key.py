"""Data keys: random, fingerprinted, never shown."""

from __future__ import annotations

import base64
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import DataKey, KeyMaterialError, new_data_key

keys = st.binary(min_size=32, max_size=32)


def test_new_data_keys_are_256_bit_and_distinct() -> None:
    fresh = [new_data_key() for _ in range(20)]

    assert all(len(key.reveal()) == 32 for key in fresh)
    assert len({key.reveal() for key in fresh}) == 20


@given(material=keys)
def test_repr_never_shows_the_key(material: bytes) -> None:
    shown = repr(DataKey(material))

    assert material.hex() not in shown
    assert base64.b64encode(material).decode() not in shown
    assert repr(material) not in shown


@given(material=keys)
def test_key_id_is_a_stable_fingerprint(material: bytes) -> None:
    assert DataKey(material).key_id == DataKey(material).key_id


def test_key_id_is_pinned() -> None:
    # Stored ciphertexts carry this id: the derivation must never change.
    assert DataKey(bytes(range(32))).key_id == 0x2948C1C9


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(KeyMaterialError):
        DataKey(bytes(length))


def test_keys_with_the_same_bytes_are_equal() -> None:
    assert DataKey(bytes(32)) == DataKey(bytes(32))
    assert DataKey(bytes(32)) != DataKey(bytes([1]) * 32)


def test_a_data_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(DataKey(bytes(32)))
