"""Normalising identifiers before they are blind-indexed.

Two spellings of the same identifier must give the same blind index, so the
value is put in one canonical form first. The same normalised form is what the
service encrypts, so a candidate match can be confirmed by comparing it exactly.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal, TypeAlias, get_args

import phonenumbers

from crypto._errors import InvalidIdentifier

__all__ = ["DEVICE_ID_PATTERN", "IDENTIFIER_KINDS", "IdentifierKind", "normalise_identifier"]

IdentifierKind: TypeAlias = Literal["email", "phone", "user_id", "device_id"]
IDENTIFIER_KINDS: Final[tuple[IdentifierKind, ...]] = get_args(IdentifierKind)
# 22 base64url characters carry 132 bits: a device id must be long enough to be unguessable when
# drawn at random (the snippet's `d_` and 22 characters, or a UUIDv4 in its 36-character form).
DEVICE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{22,128}$"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def normalise_identifier(kind: IdentifierKind, value: str, *, default_region: str | None = None) -> str:
    """The canonical form of an identifier of ``kind``.

    - ``email``: surrounding whitespace trimmed, lower-cased, Unicode NFC; it must
      have text on both sides of an ``@``.
    - ``phone``: E.164 (``+14155550123``) via libphonenumber; a number without a
      ``+`` country code is read in ``default_region`` (ISO 3166 alpha-2, e.g.
      ``"GB"``); extensions are dropped; a number that is not valid is refused.
    - ``user_id``, ``device_id``: exactly as given (ids are opaque and
      case-sensitive), but never empty; a ``device_id`` is 22 to 128
      characters of the base64url alphabet (``A-Z a-z 0-9 - _``), enough for
      128 random bits (`DEVICE_ID_PATTERN`).

    Raises `InvalidIdentifier` (which never contains the value).
    """
    if kind == "email":
        return _email(value)
    if kind == "phone":
        return _phone(value, default_region)
    if kind in ("user_id", "device_id"):
        if not value:
            raise InvalidIdentifier(f"{kind}: must not be empty")
        if kind == "device_id" and not _DEVICE_ID.match(value):
            raise InvalidIdentifier(
                "device_id: 22 to 128 characters of A-Z a-z 0-9 - _ (128 random bits, e.g. a UUIDv4)"
            )
        return value
    raise ValueError(f"unknown identifier kind {kind!r}; expected one of {IDENTIFIER_KINDS}")


def _email(value: str) -> str:
    email = unicodedata.normalize("NFC", value.strip().lower())
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise InvalidIdentifier("email: not an email address (expected text on both sides of an @)")
    return email


def _phone(value: str, default_region: str | None) -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None:
        raise InvalidIdentifier("phone: not a phone number (use the international +CC form, or set a default region)")
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("phone: not a valid phone number for its country")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
