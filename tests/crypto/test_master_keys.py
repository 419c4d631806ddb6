"""Parsing the master key ring from CONSENT_MASTER_KEYS and from a key file."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import (
    KeyMaterialError,
    MasterKeyRing,
    generate_master_key_entry,
    generate_master_key_file_text,
    parse_master_key_file,
    parse_master_keys,
)
from tests.crypto.samples import leaked_by

KEY_A = base64.b64encode(bytes([0xA1]) * 32).decode()
KEY_B = base64.b64encode(bytes([0xB2]) * 32).decode()


def test_the_highest_version_is_current_whatever_the_order() -> None:
    ring = parse_master_keys(f"2:{KEY_A},3:{KEY_B}")

    assert ring.current_version == 3
    assert ring.versions == (3, 2)


def test_an_older_version_can_be_pinned_as_current() -> None:
    ring = parse_master_keys(f"2:{KEY_A},3:{KEY_B}", current_version=2)

    assert ring.current_version == 2
    assert ring.versions == (3, 2)


def test_a_pinned_version_must_be_in_the_ring() -> None:
    with pytest.raises(KeyMaterialError, match="not in the ring"):
        parse_master_keys(f"2:{KEY_A}", current_version=3)


def test_whitespace_and_empty_entries_are_ignored() -> None:
    ring = parse_master_keys(f" 3 : {KEY_A} ,\n 2:{KEY_B}, ")

    assert ring.versions == (3, 2)


def test_a_key_file_holds_one_entry_per_line_with_comments() -> None:
    text = f"# master keys\n\n2:{KEY_A}  # old, rewrapping\n3:{KEY_B}\n"

    assert parse_master_key_file(text).versions == (3, 2)


def test_a_generated_key_file_parses_to_one_version() -> None:
    ring = parse_master_key_file(generate_master_key_file_text())

    assert ring.versions == (1,)


def test_generated_key_files_hold_different_keys() -> None:
    assert generate_master_key_file_text() != generate_master_key_file_text()


def test_a_generated_entry_can_be_appended_as_a_new_version() -> None:
    text = generate_master_key_file_text() + generate_master_key_entry(2) + "\n"

    assert parse_master_key_file(text).current_version == 2


def test_the_repr_shows_versions_only() -> None:
    assert repr(parse_master_keys(f"3:{KEY_A}")) == "MasterKeyRing(current_version=3, versions=(3,))"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" , ", "empty"),
        (KEY_A, "LABEL:BASE64"),
        (f"3:{KEY_A[:-2]}", "base64"),
        (f"3:{KEY_A}!", "base64"),
        ("3:" + base64.b64encode(bytes(16)).decode(), "32 bytes"),
        (f"x:{KEY_A}", "positive integer"),
        (f"-1:{KEY_A}", "positive integer"),
        (f"0:{KEY_A}", "between"),
        (f"4294967296:{KEY_A}", "between"),
        (f"3:{KEY_A},3:{KEY_B}", "appears twice"),
    ],
)
def test_malformed_key_text_is_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        parse_master_keys(text)


def test_the_error_names_the_line_of_a_key_file() -> None:
    with pytest.raises(KeyMaterialError, match="on line 3"):
        parse_master_key_file(f"# keys\n1:{KEY_A}\n2:{KEY_B[:-4]}\n")


@given(
    # Any length but the right one, so that every shape below is malformed.
    material=st.binary(min_size=1, max_size=64).filter(lambda m: len(m) != 32),
    shape=st.sampled_from(["{key}", "x:{key}", "3:{key}!", "3:{key}", "{key}:3", "3:{key},3:{key}"]),
)
def test_errors_never_contain_key_material(material: bytes, shape: str) -> None:
    encoded = base64.b64encode(material).decode()

    with pytest.raises(KeyMaterialError) as caught:
        parse_master_keys(shape.format(key=encoded))

    assert not leaked_by(caught.value, encoded)
    assert not leaked_by(caught.value, encoded[:8])


def test_a_ring_needs_a_key() -> None:
    with pytest.raises(KeyMaterialError):
        MasterKeyRing({})
