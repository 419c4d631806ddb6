"""What one process remembers of identifier lookups, bounded, and droppable by what changed.

Each lookup is remembered under its memo (a keyed hash of the identifier): a match by the subject
found, a miss by the identifier's blind index. An erasure, a device linked to a signed-in account,
or a corrected email removes identifiers of one subject; every new visitor's first recording adds
one. Forgetting every match, or every miss, on each of these (as the caches' owner once did) left
the caches of every instance cold nearly all the time on a busy site: the check hot path went to
PostgreSQL for nearly every identifier. So each memo is also indexed by its value, and a change
drops only the memos of the subjects, or blind indexes, it names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["Memos"]

V = TypeVar("V", bound=Hashable)


class Memos(Generic[V]):
    """`memo → value`, at most `max_entries` (the oldest go first), with each value's memos.

    A value (a subject, a blind index) usually has one memo, so its memos are held as that one
    `bytes` and become a list only for a second one: the index costs one dict slot per value.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, V] = OrderedDict()
        self._by_value: dict[V, bytes | list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, memo: bytes) -> bool:
        return memo in self._entries

    def get(self, memo: bytes) -> V | None:
        return self._entries.get(memo)

    def put(self, memo: bytes, value: V) -> None:
        previous = self._entries.pop(memo, None)
        if previous is not None:
            self._unlink(memo, previous)
        self._entries[memo] = value
        self._link(memo, value)
        while len(self._entries) > self._max_entries:
            oldest, holder = self._entries.popitem(last=False)
            self._unlink(oldest, holder)

    def drop(self, values: Iterable[V]) -> None:
        """Forget every memo whose value is one of `values`."""
        for value in values:
            held = self._by_value.pop(value, None)
            for memo in (held,) if isinstance(held, bytes) else held or ():
                self._entries.pop(memo, None)

    def clear(self) -> None:
        self._entries.clear()
        self._by_value.clear()

    def _link(self, memo: bytes, value: V) -> None:
        held = self._by_value.get(value)
        if held is None:
            self._by_value[value] = memo
        elif isinstance(held, bytes):
            self._by_value[value] = [held, memo]
        else:
            held.append(memo)

    def _unlink(self, memo: bytes, value: V) -> None:
        held = self._by_value.get(value)
        if isinstance(held, list):
            held.remove(memo)
            if len(held) == 1:
                self._by_value[value] = held[0]
        elif held is not None:
            del self._by_value[value]
