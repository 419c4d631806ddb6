"""Checks on free text that is stored as it is."""

from __future__ import annotations

import re

__all__ = ["CONTROL_CHARACTERS", "has_control_characters"]

# A regular-expression class body (Python and ECMAScript alike, for the OpenAPI document's patterns):
# C0 controls and DEL, C1 controls, the line and paragraph separators, and the bidirectional marks,
# embeddings, overrides and isolates, which make text display in another order than it is stored.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def has_control_characters(text: str) -> bool:
    """True if `text` holds a control character (C0, DEL, C1), a line separator or a bidi control.

    PostgreSQL text cannot hold NUL, so such a value would fail its write; no name, origin or
    site id has a reason to hold a newline or an escape sequence; and a bidi override makes a
    name or origin read differently in a listing or an audit report than it is.
    """
    return _CONTROL.search(text) is not None
