"""UUIDv7 minting: valid, time-ordered, and never repeated across a fork."""

from __future__ import annotations

import os
import uuid

from consent.ids import uuid7


def test_an_id_is_a_valid_version_7_uuid_that_round_trips() -> None:
    minted = uuid7()

    assert minted.version == 7
    assert minted.variant == uuid.RFC_4122
    assert uuid.UUID(str(minted)) == minted
    assert hash(uuid.UUID(str(minted))) == hash(minted)


def test_ids_carry_their_millisecond_and_sort_by_it() -> None:
    earlier, later = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)

    assert earlier.int >> 80 == 1_700_000_000_000
    assert earlier < later


def test_thousands_of_ids_are_distinct() -> None:
    assert len({uuid7(1_700_000_000_000) for _ in range(5000)}) == 5000


def test_a_forked_child_does_not_reuse_the_parent_s_random_bits() -> None:
    uuid7()  # fill the parent's buffer
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(writer, uuid7(1_700_000_000_000).bytes)
        os._exit(0)
    os.close(writer)
    from_child = uuid.UUID(bytes=os.read(reader, 16))
    os.waitpid(child, 0)
    os.close(reader)

    assert from_child != uuid7(1_700_000_000_000)
