"""Time-ordered identifiers (UUIDv7, RFC 9562).

Ordered ids keep B-tree inserts at the right edge of the index and sort by
creation time, which suits append-only tables. Python 3.11 has no uuid7.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["uuid7"]


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A random UUIDv7 for the current (or given) millisecond."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b
    return uuid.UUID(int=value)
