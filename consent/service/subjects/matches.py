"""Confirmed identifier matches of one process, bounded, and droppable subject by subject.

An erasure, a device linked to a signed-in account, or a corrected email removes identifiers of
one subject. Dropping every remembered match for that (as this cache's owner once did) left every
instance's identifier cache cold after each such change: on a site where people sign in all the
time, the check hot path went to PostgreSQL for nearly every identifier. So each match is also
indexed by its subject, and a removal drops only that subject's matches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

__all__ = ["Matches"]


class Matches:
    """`memo → subject id`, at most `max_entries` (the oldest go first), with each subject's memos.

    A subject usually has one remembered identifier, so its memos are held as that one `bytes`
    and become a list only for a second one: the index costs one dict slot per subject.
    """

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, UUID] = OrderedDict()
        self._by_subject: dict[UUID, bytes | list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, memo: bytes) -> UUID | None:
        return self._entries.get(memo)

    def put(self, memo: bytes, subject_id: UUID) -> None:
        previous = self._entries.pop(memo, None)
        if previous is not None:
            self._unlink(memo, previous)
        self._entries[memo] = subject_id
        self._link(memo, subject_id)
        while len(self._entries) > self._max_entries:
            oldest, holder = self._entries.popitem(last=False)
            self._unlink(oldest, holder)

    def drop_subjects(self, subject_ids: Iterable[UUID]) -> None:
        """Forget every match that names one of `subject_ids`."""
        for subject_id in subject_ids:
            held = self._by_subject.pop(subject_id, None)
            for memo in (held,) if isinstance(held, bytes) else held or ():
                self._entries.pop(memo, None)

    def clear(self) -> None:
        self._entries.clear()
        self._by_subject.clear()

    def _link(self, memo: bytes, subject_id: UUID) -> None:
        held = self._by_subject.get(subject_id)
        if held is None:
            self._by_subject[subject_id] = memo
        elif isinstance(held, bytes):
            self._by_subject[subject_id] = [held, memo]
        else:
            held.append(memo)

    def _unlink(self, memo: bytes, subject_id: UUID) -> None:
        held = self._by_subject.get(subject_id)
        if isinstance(held, list):
            held.remove(memo)
            if len(held) == 1:
                self._by_subject[subject_id] = held[0]
        elif held is not None:
            del self._by_subject[subject_id]
