"""A wrapper that keeps a decrypted value out of logs, tracebacks and f-strings."""

from __future__ import annotations

from typing import Generic, NoReturn, TypeVar

from cryptography.hazmat.primitives import constant_time

__all__ = ["REDACTED", "Redacted"]

REDACTED = "[REDACTED]"

T_co = TypeVar("T_co", covariant=True)


class Redacted(Generic[T_co]):
    """A plaintext personal value that prints as ``[REDACTED]`` everywhere.

    ``repr``, ``str``, ``format`` (so f-strings with or without a format spec) and
    ``%`` formatting all show ``[REDACTED]``; the value itself only comes out
    through `reveal`, so every place that handles it on purpose is easy to find.
    It cannot be pickled, so it cannot slip into a cache or a task queue either.

    >>> name = Redacted("Ada Lovelace")
    >>> f"hello {name}", "%s" % name
    ('hello [REDACTED]', '[REDACTED]')
    >>> name.reveal()
    'Ada Lovelace'
    """

    __slots__ = ("_value",)

    def __init__(self, value: T_co) -> None:
        self._value = value

    def reveal(self) -> T_co:
        """Return the plaintext. Call it only where the value leaves on purpose."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Redacted):
            return NotImplemented
        mine, theirs = self._value, other._value
        # Equal-length byte/str comparisons run in constant time: a candidate match
        # confirmed by decrypting should not time how much of it matched.
        if isinstance(mine, str) and isinstance(theirs, str):
            return constant_time.bytes_eq(mine.encode(), theirs.encode())
        if isinstance(mine, bytes) and isinstance(theirs, bytes):
            return constant_time.bytes_eq(mine, theirs)
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash((Redacted, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Redacted value cannot be pickled; reveal() it explicitly where it must leave")

    def __copy__(self) -> Redacted[T_co]:
        return self

    def __deepcopy__(self, memo: object) -> Redacted[T_co]:
        return self
