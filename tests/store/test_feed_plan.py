"""The change feed reads its pages in index order: a page costs the same however many events follow it."""

from __future__ import annotations

from uuid import UUID

from consent.store.consent_events import _FEED
from consent.store.pool import Connection


async def test_the_feed_statement_reads_the_feed_index_in_order_with_no_sort(owner_conn: Connection) -> None:
    # With sorting priced out, a plan that still sorts has no index giving the order it asks for: such a
    # page reads and sorts every event after the cursor (the feed slowed twentyfold at 10^6 events).
    await owner_conn.execute("SET enable_sort = off")
    await owner_conn.execute("SET enable_seqscan = off")
    plan = "\n".join(row[0] for row in await owner_conn.fetch(f"EXPLAIN (COSTS OFF) {_FEED}", "0", UUID(int=0), 1000))
    assert "consent_events_feed" in plan, plan
    assert "Sort" not in plan, plan
