"""Every store statement that names a subject finds its rows through an index, whatever the table's size.

A statement filtering by `subject_id` on a table with no index for it reads the whole table: fast in
a test's empty database, tens of milliseconds once the table holds a shop's data (an erasure and an
export scanned the request table; migration 0017). Each statement is planned as PostgreSQL plans a
prepared statement it runs often (the generic plan) with sequential scans priced out, so a scan of
a whole table appears only where no index can find the subject's rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from consent.store.pool import Connection
from tests.store.test_sharding_path import _PLANNABLE, store_statements

_BY_SUBJECT = re.compile(r"\(subject_id = ")


def _whole_table_scans(plan: dict[str, Any]) -> Iterator[str]:
    """Scans that filter rows by subject but find them by no condition: the whole table, or the whole of
    an index read for its order."""
    found_by = " ".join(str(plan.get(key, "")) for key in ("Index Cond", "Recheck Cond", "TID Cond"))
    found_by += " ".join(str(child.get("Index Cond", "")) for child in plan.get("Plans", []))
    if "Relation Name" in plan and _BY_SUBJECT.search(str(plan.get("Filter", ""))) and not found_by.strip():
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from _whole_table_scans(child)


async def _scans_by_subject_without_index(conn: Connection, sql: str) -> list[str]:
    await conn.execute(f"PREPARE probe AS {sql}")
    try:
        params = await conn.fetchval(
            "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'probe'"
        )
        nulls = f"({', '.join(['NULL'] * params)})" if params else ""
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON, COSTS OFF) EXECUTE probe{nulls}")
    finally:
        await conn.execute("DEALLOCATE probe")
    return sorted(set(_whole_table_scans(plan[0]["Plan"])))


async def test_every_statement_by_subject_finds_its_rows_through_an_index(owner_conn: Connection) -> None:
    found = []
    for statement in store_statements():
        if statement.sql is None or not _PLANNABLE.match(statement.sql):
            continue
        tables = await _scans_by_subject_without_index(owner_conn, statement.sql)
        found += [f"{statement.where}: reads all of {table} to find one subject's rows" for table in tables]
    assert found == []


async def test_a_table_without_an_index_by_subject_is_noticed(owner_conn: Connection) -> None:
    await owner_conn.execute("CREATE TABLE unindexed_notes (id uuid PRIMARY KEY, subject_id uuid NOT NULL)")
    tables = await _scans_by_subject_without_index(owner_conn, "SELECT id FROM unindexed_notes WHERE subject_id = $1")
    assert tables == ["unindexed_notes"]
