"""WAL positions compared between a primary and its replica."""

from __future__ import annotations

from consent.store.pool import Connection
from consent.store.replication import inserted_position, record_end

BLOCK, SEGMENT = 8192, 16 * 1024 * 1024


def test_a_record_that_filled_its_page_ends_at_the_boundary_a_replica_reports() -> None:
    page = 7 * BLOCK
    # The insert position after such a record points past the next page's header (24 bytes; 40 on
    # the first page of a segment); a replica that replayed it stands at the boundary.
    assert record_end(page + 24, block_size=BLOCK, segment_size=SEGMENT) == page
    assert record_end(3 * SEGMENT + 40, block_size=BLOCK, segment_size=SEGMENT) == 3 * SEGMENT
    # Anywhere else the position is the record's end already, a long header's 40 bytes included
    # when it is not a segment's first page (a record continued from the page before may end there).
    for position in (page, page + 8, page + 40, page + 4096, 3 * SEGMENT + 48):
        assert record_end(position, block_size=BLOCK, segment_size=SEGMENT) == position


async def test_the_primary_s_position_is_read_with_its_own_page_and_segment_sizes(conn: Connection) -> None:
    raw: int = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
    position = await inserted_position(conn)
    assert raw - 40 <= position <= raw + 8192  # the same place, or a write of another session later
