"""Time-ordered identifiers (UUIDv7, RFC 9562).

Ordered ids keep B-tree inserts at the right edge of the index and sort by
creation time, which suits append-only tables. Python 3.11 has no uuid7.

A recorded consent mints five ids, so minting is on the hot path: the random
bits come from a buffer refilled from `os.urandom` 4 KiB at a time (one system
call per ~400 ids instead of one each), and the UUID is built without
`uuid.UUID.__init__`'s argument parsing. The buffer is discarded in a forked
child, so two server workers never hand out the same random bits.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["BEFORE_ALL", "uuid7"]

BEFORE_ALL = uuid.UUID(int=0)
"""Less than every id: where a walk over a table in id order starts (`WHERE id > $after`)."""

_RANDOM_BYTES_PER_ID = 10
_REFILL = 4096 - 4096 % _RANDOM_BYTES_PER_ID
_SAFE = uuid.SafeUUID.unknown
_set = object.__setattr__


class _RandomBuffer:
    __slots__ = ("data", "offset")

    def __init__(self) -> None:
        self.data = b""
        self.offset = 0

    def take(self) -> int:
        """The next 80 random bits."""
        if self.offset >= len(self.data):
            self.data = os.urandom(_REFILL)
            self.offset = 0
        start = self.offset
        self.offset = start + _RANDOM_BYTES_PER_ID
        return int.from_bytes(self.data[start : self.offset], "big")

    def discard(self) -> None:
        self.data = b""


_random = _RandomBuffer()
os.register_at_fork(after_in_child=_random.discard)


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A random UUIDv7 for the current (or given) millisecond."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = _random.take()
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b
    # What uuid.UUID(int=value) stores, without re-validating a value built to be valid.
    minted = object.__new__(uuid.UUID)
    _set(minted, "int", value)
    _set(minted, "is_safe", _SAFE)
    return minted
