"""The size bound every per-process cache of the service keeps (state, identifiers, data keys)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

__all__ = ["store_bounded"]

K = TypeVar("K")
V = TypeVar("V")


def store_bounded(entries: OrderedDict[K, V], key: K, value: V, max_entries: int) -> None:
    """Put `value` under `key` as the most recently used entry, and drop the least recently used ones
    beyond `max_entries`, so a cache's memory stays bounded whatever the traffic."""
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > max_entries:
        entries.popitem(last=False)
