"""Checks on free text that is stored as it is."""

from __future__ import annotations

__all__ = ["has_control_characters"]


def has_control_characters(text: str) -> bool:
    """True if `text` holds a C0 control character or DEL.

    PostgreSQL text cannot hold NUL, so such a value would fail its write; and no
    name, origin or site id has a reason to hold a newline or an escape sequence.
    """
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)
