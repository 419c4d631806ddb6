"""Redacted: a decrypted value never shows up by accident."""

from __future__ import annotations

import copy
import logging
import pickle

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import Redacted

SECRET = "ada@example.org"


def test_repr_is_redacted() -> None:
    assert repr(Redacted(SECRET)) == "[REDACTED]"


def test_str_is_redacted() -> None:
    assert str(Redacted(SECRET)) == "[REDACTED]"


@pytest.mark.parametrize("spec", ["", "s", ">40", "!r", "!s", "!a"])
def test_f_strings_are_redacted(spec: str) -> None:
    template = "{value" + (spec if spec.startswith("!") else (":" + spec if spec else "")) + "}"

    assert SECRET not in template.format(value=Redacted(SECRET))


def test_percent_formatting_is_redacted() -> None:
    value = Redacted(SECRET)

    assert "%s %r" % (value, value) == "[REDACTED] [REDACTED]"  # noqa: UP031 - the point of the test


def test_containers_show_it_redacted() -> None:
    assert SECRET not in repr({"email": Redacted(SECRET)})


def test_log_records_show_it_redacted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("value=%s", Redacted(SECRET))

    assert SECRET not in caplog.text


@given(value=st.text() | st.binary())
def test_reveal_returns_the_value(value: str | bytes) -> None:
    assert Redacted(value).reveal() == value


def test_equal_values_compare_equal() -> None:
    assert Redacted(SECRET) == Redacted(SECRET)
    assert Redacted(b"a") != Redacted(b"b")
    assert hash(Redacted(SECRET)) == hash(Redacted(SECRET))


def test_a_redacted_value_is_not_equal_to_its_plaintext() -> None:
    assert Redacted(SECRET) != SECRET


def test_it_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Redacted(SECRET))


def test_copies_are_the_same_object() -> None:
    value = Redacted(SECRET)

    assert copy.copy(value) is value
    assert copy.deepcopy(value) is value


def test_it_cannot_be_serialised_to_json() -> None:
    with pytest.raises(TypeError):
        msgspec.json.encode({"email": Redacted(SECRET)})
