"""The text formats keys are configured in: an env var list and a key file.

Both hold ``LABEL:BASE64`` entries (a version number or a ``kid``, then standard
padded base64 of the raw key). An env var separates entries with commas; a key
file puts one per line and ignores blank lines and ``#`` comments. Errors say
where the bad entry is, never what it contains.
"""

from __future__ import annotations

from collections.abc import Iterator

from crypto._encoding import b64_decode, b64_encode
from crypto._errors import KeyMaterialError

__all__ = ["KeyEntry", "format_entry", "iter_entries"]


class KeyEntry:
    """One parsed ``LABEL:BASE64`` entry; its repr leaves the key out."""

    __slots__ = ("label", "material", "where")

    def __init__(self, *, where: str, label: str, material: bytes) -> None:
        self.where = where
        self.label = label
        self.material = material

    def __repr__(self) -> str:
        return f"KeyEntry(where={self.where!r}, label={self.label!r}, material=[REDACTED])"


def iter_entries(text: str, *, what: str, file: bool) -> Iterator[KeyEntry]:
    """Yield the entries of env-var text (``file=False``) or key-file text.

    ``what`` names the key kind in error messages ("master key", "signing key").
    Raises `KeyMaterialError` if an entry is not ``LABEL:BASE64``.
    """
    for where, entry in _split(text, file=file):
        label, colon, encoded = entry.partition(":")
        label, encoded = label.strip(), encoded.strip()
        if not colon or not label or not encoded:
            raise KeyMaterialError(f"{what} {where} is not in the form LABEL:BASE64")
        material = _decode(encoded)
        if material is None:
            raise KeyMaterialError(f"{what} {where}: the key is not valid padded base64")
        yield KeyEntry(where=where, label=label, material=material)


def format_entry(label: str, material: bytes) -> str:
    """The ``LABEL:BASE64`` spelling of one key."""
    return f"{label}:{b64_encode(material)}"


def _decode(encoded: str) -> bytes | None:
    try:
        return b64_decode(encoded)
    except ValueError:
        return None


def _split(text: str, *, file: bool) -> Iterator[tuple[str, str]]:
    if file:
        for number, line in enumerate(text.splitlines(), start=1):
            # Base64 and our labels never contain "#", so it can start a comment anywhere.
            entry = line.partition("#")[0].strip()
            if entry:
                yield f"on line {number}", entry
        return
    position = 0
    for raw in text.split(","):
        entry = raw.strip()
        if entry:
            position += 1
            yield f"entry {position}", entry
