"""Field encryption: round trips, the ciphertext format, and every way to make it fail."""

from __future__ import annotations

import struct
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    FIELD_OVERHEAD,
    DataKey,
    DecryptionFailed,
    Redacted,
    decrypt_field,
    decrypt_field_text,
    encrypt_field,
)
from tests.crypto.samples import OTHER_SUBJECT, SUBJECT, leaked_by

TABLE, FIELD = "personal_records", "email"
names = st.text(min_size=1, max_size=40)

# A ciphertext written by this format's first release; it must decrypt forever.
PINNED_KEY = DataKey(bytes(range(32)))
PINNED_BLOB = bytes.fromhex(
    "012948c1c9000102030405060708090a0b2666b75ba09da376fd2df2a5de9b1fb5d6ec1e9eebfbe21efac0381a9199b2"
)


def test_text_round_trips(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "ada@example.org", subject_id=SUBJECT, table=TABLE, field=FIELD)

    plain = decrypt_field_text(data_key, blob, subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert plain.reveal() == "ada@example.org"


@given(plaintext=st.binary(max_size=512))
def test_any_bytes_round_trip(data_key: DataKey, plaintext: bytes) -> None:
    blob = encrypt_field(data_key, plaintext, subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert decrypt_field(data_key, blob, subject_id=SUBJECT, table=TABLE, field=FIELD).reveal() == plaintext


@given(plaintext=st.text(max_size=256))
def test_any_text_round_trips(data_key: DataKey, plaintext: str) -> None:
    blob = encrypt_field(data_key, plaintext, subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert decrypt_field_text(data_key, blob, subject_id=SUBJECT, table=TABLE, field=FIELD).reveal() == plaintext


def test_decrypted_values_come_back_redacted(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "Ada Lovelace", subject_id=SUBJECT, table=TABLE, field="name")

    plain = decrypt_field_text(data_key, blob, subject_id=SUBJECT, table=TABLE, field="name")

    assert isinstance(plain, Redacted)
    assert "Ada" not in f"{plain} {plain!r}"


def test_a_redacted_value_can_be_encrypted_without_revealing_it_first(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, Redacted("Ada"), subject_id=SUBJECT, table=TABLE, field="name")

    assert decrypt_field_text(data_key, blob, subject_id=SUBJECT, table=TABLE, field="name").reveal() == "Ada"


def test_each_encryption_uses_a_fresh_nonce(data_key: DataKey) -> None:
    blobs = {encrypt_field(data_key, "same", subject_id=SUBJECT, table=TABLE, field=FIELD) for _ in range(50)}

    assert len(blobs) == 50


def test_ciphertext_is_self_describing(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, b"abc", subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert blob[0] == 1
    assert int.from_bytes(blob[1:5], "big") == data_key.key_id
    assert len(blob) == 3 + FIELD_OVERHEAD == 3 + 1 + 4 + 12 + 16


def test_the_format_is_the_documented_one(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, b"abc", subject_id=SUBJECT, table=TABLE, field=FIELD)
    prefix, nonce = blob[:17], blob[5:17]
    names = [SUBJECT.encode(), TABLE.encode(), FIELD.encode()]
    associated = prefix + struct.pack(">HHH", *map(len, names)) + b"".join(names)

    assert AESGCM(bytes(range(32))).decrypt(nonce, blob[17:], associated) == b"abc"


def test_a_uuid_subject_binds_like_its_canonical_text(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=uuid.UUID(SUBJECT), table=TABLE, field=FIELD)

    assert decrypt_field(data_key, blob, subject_id=SUBJECT, table=TABLE, field=FIELD).reveal() == b"x"


def test_pinned_ciphertext_still_decrypts() -> None:
    plain = decrypt_field_text(PINNED_KEY, PINNED_BLOB, subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert plain.reveal() == "ada@example.org"


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_flipped_bit_fails(data_key: DataKey, plaintext: bytes, data: st.DataObject) -> None:
    blob = bytearray(encrypt_field(data_key, plaintext, subject_id=SUBJECT, table=TABLE, field=FIELD))
    bit = data.draw(st.integers(0, len(blob) * 8 - 1), label="bit")
    blob[bit // 8] ^= 1 << (bit % 8)

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, bytes(blob), subject_id=SUBJECT, table=TABLE, field=FIELD)


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_truncation_fails(data_key: DataKey, plaintext: bytes, data: st.DataObject) -> None:
    blob = encrypt_field(data_key, plaintext, subject_id=SUBJECT, table=TABLE, field=FIELD)
    cut = data.draw(st.integers(0, len(blob) - 1), label="cut")

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, blob[:cut], subject_id=SUBJECT, table=TABLE, field=FIELD)


@given(subject=names.filter(lambda s: s != SUBJECT))
def test_another_subject_fails(data_key: DataKey, subject: str) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, blob, subject_id=subject, table=TABLE, field=FIELD)


@given(table=names.filter(lambda t: t != TABLE))
def test_another_table_fails(data_key: DataKey, table: str) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, blob, subject_id=SUBJECT, table=table, field=FIELD)


@given(field=names.filter(lambda f: f != FIELD))
def test_another_field_fails(data_key: DataKey, field: str) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, blob, subject_id=SUBJECT, table=TABLE, field=field)


def test_names_cannot_be_shifted_between_table_and_field(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=SUBJECT, table="records", field="email")

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, blob, subject_id=SUBJECT, table="recordse", field="mail")


@given(material=st.binary(min_size=32, max_size=32).filter(lambda m: m != bytes(range(32))))
def test_another_data_key_fails(data_key: DataKey, material: bytes) -> None:
    blob = encrypt_field(data_key, b"x", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed):
        decrypt_field(DataKey(material), blob, subject_id=SUBJECT, table=TABLE, field=FIELD)


def test_a_header_relabelled_with_the_right_key_id_still_fails(data_key: DataKey, other_data_key: DataKey) -> None:
    blob = bytearray(encrypt_field(other_data_key, b"x", subject_id=SUBJECT, table=TABLE, field=FIELD))
    blob[1:5] = data_key.key_id.to_bytes(4, "big")

    with pytest.raises(DecryptionFailed):
        decrypt_field(data_key, bytes(blob), subject_id=SUBJECT, table=TABLE, field=FIELD)


def test_bytes_that_are_not_text_fail_as_text(data_key: DataKey) -> None:
    blob = encrypt_field(data_key, b"\xff\xfe", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed) as caught:
        decrypt_field_text(data_key, blob, subject_id=SUBJECT, table=TABLE, field=FIELD)

    assert not leaked_by(caught.value, "0xff")


def test_failure_messages_name_the_field_but_not_the_value(data_key: DataKey, other_data_key: DataKey) -> None:
    blob = encrypt_field(data_key, "ada@example.org", subject_id=SUBJECT, table=TABLE, field=FIELD)

    with pytest.raises(DecryptionFailed) as caught:
        decrypt_field(data_key, blob, subject_id=OTHER_SUBJECT, table=TABLE, field=FIELD)

    assert "personal_records.email" in str(caught.value)
    assert not leaked_by(caught.value, "ada")
    assert not leaked_by(caught.value, SUBJECT)
