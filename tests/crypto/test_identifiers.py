"""Normalising identifiers before they are blind-indexed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import IDENTIFIER_KINDS, InvalidIdentifier, normalise_identifier
from tests.crypto.samples import leaked_by

whitespace = st.text(alphabet=" \t\n\u00a0\u2003", max_size=3)
ascii_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20)
ascii_domain = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8}){1,2}", fullmatch=True)


def test_an_email_is_trimmed_and_lower_cased() -> None:
    assert normalise_identifier("email", "  Ada.Lovelace@Example.ORG \n") == "ada.lovelace@example.org"


@given(
    local=ascii_local,
    domain=ascii_domain,
    flips=st.lists(st.booleans(), min_size=40, max_size=40),
    before=whitespace,
    after=whitespace,
)
def test_case_and_whitespace_variants_of_an_email_normalise_alike(
    local: str, domain: str, flips: list[bool], before: str, after: str
) -> None:
    email = f"{local}@{domain}"
    variant = "".join(c.upper() if flip else c for c, flip in zip(email, flips, strict=False)) + email[40:]

    assert normalise_identifier("email", before + variant + after) == normalise_identifier("email", email)


def test_composed_and_decomposed_unicode_emails_normalise_alike() -> None:
    assert normalise_identifier("email", "jose\u0301@example.org") == normalise_identifier(
        "email", "jos\u00e9@example.org"
    )


@pytest.mark.parametrize("value", ["", "   ", "ada", "@example.org", "ada@", " ada@ "])
def test_a_value_that_is_not_an_email_is_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="email"):
        normalise_identifier("email", value)


def test_the_email_error_does_not_echo_the_value() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalise_identifier("email", "ada.lovelace.example.org")

    assert not leaked_by(caught.value, "lovelace")


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("+1 650-253-0000", None),
        ("+16502530000", None),
        ("(650) 253-0000", "US"),
        ("650.253.0000", "US"),
        ("001 650 253 0000", "FR"),
        ("+1 (650) 253-0000 ext. 12", None),
        ("tel:+1-650-253-0000", None),
    ],
)
def test_phone_formatting_variants_normalise_to_e164(value: str, region: str | None) -> None:
    assert normalise_identifier("phone", value, default_region=region) == "+16502530000"


def test_a_national_number_is_read_in_the_default_region() -> None:
    assert normalise_identifier("phone", "020 7946 0958", default_region="GB") == "+442079460958"


@pytest.mark.parametrize(
    ("value", "region"),
    [("020 7946 0958", None), ("not a number", "GB"), ("+1 555", None), ("+44 20 7946 09589999", None), ("", "US")],
)
def test_an_invalid_phone_number_is_refused(value: str, region: str | None) -> None:
    with pytest.raises(InvalidIdentifier, match="phone"):
        normalise_identifier("phone", value, default_region=region)


def test_the_phone_error_does_not_echo_the_value() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalise_identifier("phone", "+1 650 253 00009", default_region="US")

    assert not leaked_by(caught.value, "253")


@given(value=st.text(max_size=40), region=st.sampled_from([None, "US", "GB", "JP", "BR", "ZZ"]))
def test_any_text_either_normalises_or_is_refused_cleanly(value: str, region: str | None) -> None:
    try:
        normalised = normalise_identifier("phone", value, default_region=region)
    except InvalidIdentifier:
        return
    assert normalised.startswith("+")
    assert normalised[1:].isdigit()


def test_user_ids_are_kept_exactly_as_given() -> None:
    assert normalise_identifier("user_id", " U-42 ") == " U-42 "


@pytest.mark.parametrize("device", ["d_7Hq2xYzAbCdEfGhIjKlMnOp", "0b7e1c3a-5f2d-4e8b-9a61-2c4d8f0e7b13", "A" * 128])
def test_device_ids_of_128_random_bits_are_kept_exactly_as_given(device: str) -> None:
    assert normalise_identifier("device_id", device) == device


@pytest.mark.parametrize(
    "device", ["d_7Hq2visitor", "A" * 21, "A" * 129, "d_7Hq2xYzAbCdEfGhIjKlMn p", "d_7Hq2xYz+bCdEfGhIjKlMnOp"]
)
def test_a_device_id_too_short_to_be_unguessable_or_not_base64url_is_refused(device: str) -> None:
    with pytest.raises(InvalidIdentifier, match="device_id: 22 to 128"):
        normalise_identifier("device_id", device)


@pytest.mark.parametrize("kind", IDENTIFIER_KINDS)
def test_an_empty_identifier_is_refused(kind: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalise_identifier(kind, "")  # type: ignore[arg-type]


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown identifier kind"):
        normalise_identifier("passport", "X")  # type: ignore[arg-type]
