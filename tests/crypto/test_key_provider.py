"""Wrapping data keys under the master key ring, through the KeyProvider protocol."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TypeVar

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    DataKey,
    DecryptionFailed,
    KeyProvider,
    LocalKeyProvider,
    MasterKeyRing,
    UnknownKeyVersion,
    WrappedDataKey,
    new_data_key,
)
from tests.crypto.samples import OTHER_SUBJECT, SUBJECT

T = TypeVar("T")

# A data key (bytes 0..31) wrapped by master version 1 (0x01 * 32) for SUBJECT
# in the first release; it must unwrap forever.
PINNED = WrappedDataKey(
    master_version=1,
    blob=bytes.fromhex(
        "01000102030405060708090a0bbba7972524fb007ef663edcf2c64c6acbed77919e184531769d3229bbd9a23ad"
        "3771399be978b8da87c90768ab4b75c7"
    ),
)


def run_now(coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine that must complete without ever suspending."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise AssertionError("the coroutine suspended")


def test_local_provider_satisfies_the_protocol(master_ring: MasterKeyRing) -> None:
    provider: KeyProvider = LocalKeyProvider(master_ring)

    assert provider.current_version == 2
    assert provider.versions == (2, 1)


async def test_a_wrapped_key_unwraps_for_its_subject(provider: LocalKeyProvider) -> None:
    key = new_data_key()

    wrapped = await provider.wrap_data_key(key, subject_id=SUBJECT)

    assert await provider.unwrap_data_key(wrapped, subject_id=SUBJECT) == key


def test_the_local_provider_never_suspends(provider: LocalKeyProvider) -> None:
    wrapped = run_now(provider.wrap_data_key(new_data_key(), subject_id=SUBJECT))

    run_now(provider.unwrap_data_key(wrapped, subject_id=SUBJECT))


def test_keys_are_wrapped_under_the_current_version(provider: LocalKeyProvider) -> None:
    wrapped = run_now(provider.wrap_data_key(new_data_key(), subject_id=SUBJECT))

    assert wrapped.master_version == 2
    assert len(wrapped.blob) == 1 + 12 + 32 + 16


def test_the_wrap_format_is_the_documented_one(master_ring: MasterKeyRing) -> None:
    key = new_data_key()
    wrapped = master_ring.wrap(key, subject_id=SUBJECT)
    associated = b"consent/data-key\x01" + (2).to_bytes(4, "big") + SUBJECT.encode()

    unwrapped = AESGCM(bytes([2]) * 32).decrypt(wrapped.blob[1:13], wrapped.blob[13:], associated)

    assert wrapped.blob[0] == 1
    assert unwrapped == key.reveal()


def test_the_wrapped_key_does_not_contain_the_key(provider: LocalKeyProvider) -> None:
    key = new_data_key()

    wrapped = run_now(provider.wrap_data_key(key, subject_id=SUBJECT))

    assert key.reveal() not in wrapped.blob


def test_a_wrapped_key_is_a_plain_storable_value(provider: LocalKeyProvider) -> None:
    wrapped = run_now(provider.wrap_data_key(new_data_key(), subject_id=SUBJECT))

    assert msgspec.msgpack.decode(msgspec.msgpack.encode(wrapped), type=WrappedDataKey) == wrapped


@given(subject=st.text(min_size=1, max_size=40).filter(lambda s: s != SUBJECT))
def test_a_wrapped_key_moved_to_another_subject_fails(master_ring: MasterKeyRing, subject: str) -> None:
    wrapped = master_ring.wrap(new_data_key(), subject_id=SUBJECT)

    with pytest.raises(DecryptionFailed):
        master_ring.unwrap(wrapped, subject_id=subject)


def test_a_wrapped_key_relabelled_with_another_held_version_fails(master_ring: MasterKeyRing) -> None:
    wrapped = master_ring.wrap(new_data_key(), subject_id=SUBJECT)
    relabelled = msgspec.structs.replace(wrapped, master_version=1)

    with pytest.raises(DecryptionFailed) as caught:
        master_ring.unwrap(relabelled, subject_id=SUBJECT)

    assert not isinstance(caught.value, UnknownKeyVersion)


@given(version=st.integers(min_value=3, max_value=2**32 - 1))
def test_a_version_the_ring_does_not_hold_is_reported_as_such(master_ring: MasterKeyRing, version: int) -> None:
    wrapped = master_ring.wrap(new_data_key(), subject_id=SUBJECT)

    with pytest.raises(UnknownKeyVersion, match=f"version {version}"):
        master_ring.unwrap(msgspec.structs.replace(wrapped, master_version=version), subject_id=SUBJECT)


@given(data=st.data())
def test_any_flipped_bit_in_a_wrapped_key_fails(master_ring: MasterKeyRing, data: st.DataObject) -> None:
    wrapped = master_ring.wrap(new_data_key(), subject_id=SUBJECT)
    blob = bytearray(wrapped.blob)
    bit = data.draw(st.integers(0, len(blob) * 8 - 1), label="bit")
    blob[bit // 8] ^= 1 << (bit % 8)

    with pytest.raises(DecryptionFailed):
        master_ring.unwrap(msgspec.structs.replace(wrapped, blob=bytes(blob)), subject_id=SUBJECT)


@given(cut=st.integers(0, 60))
def test_a_truncated_wrapped_key_fails(master_ring: MasterKeyRing, cut: int) -> None:
    wrapped = master_ring.wrap(new_data_key(), subject_id=SUBJECT)

    with pytest.raises(DecryptionFailed):
        master_ring.unwrap(msgspec.structs.replace(wrapped, blob=wrapped.blob[:cut]), subject_id=SUBJECT)


def test_another_ring_cannot_unwrap() -> None:
    wrapped = MasterKeyRing({1: bytes([1]) * 32}).wrap(new_data_key(), subject_id=SUBJECT)

    with pytest.raises(DecryptionFailed):
        MasterKeyRing({1: bytes([9]) * 32}).unwrap(wrapped, subject_id=SUBJECT)


def test_rotation_rewraps_under_the_new_version_and_retires_the_old() -> None:
    old_ring = MasterKeyRing({1: bytes([1]) * 32})
    key = new_data_key()
    wrapped_v1 = old_ring.wrap(key, subject_id=SUBJECT)
    rotating = MasterKeyRing({1: bytes([1]) * 32, 2: bytes([2]) * 32})

    wrapped_v2 = rotating.wrap(rotating.unwrap(wrapped_v1, subject_id=SUBJECT), subject_id=SUBJECT)
    retired = MasterKeyRing({2: bytes([2]) * 32})

    assert wrapped_v2.master_version == 2
    assert retired.unwrap(wrapped_v2, subject_id=SUBJECT) == key
    with pytest.raises(UnknownKeyVersion):
        retired.unwrap(wrapped_v1, subject_id=SUBJECT)


def test_a_new_version_is_usable_by_every_instance_before_it_becomes_current() -> None:
    staged = MasterKeyRing({1: bytes([1]) * 32, 2: bytes([2]) * 32}, current_version=1)
    promoted = MasterKeyRing({1: bytes([1]) * 32, 2: bytes([2]) * 32})
    key = new_data_key()

    assert staged.wrap(key, subject_id=SUBJECT).master_version == 1
    assert staged.unwrap(promoted.wrap(key, subject_id=SUBJECT), subject_id=SUBJECT) == key


def test_pinned_wrapped_key_still_unwraps(master_ring: MasterKeyRing) -> None:
    assert master_ring.unwrap(PINNED, subject_id=SUBJECT) == DataKey(bytes(range(32)))


def test_the_pinned_wrapped_key_is_bound_to_its_subject(master_ring: MasterKeyRing) -> None:
    with pytest.raises(DecryptionFailed):
        master_ring.unwrap(PINNED, subject_id=OTHER_SUBJECT)
