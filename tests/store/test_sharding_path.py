"""The sharding path of docs/scaling.md, kept open as the schema grows.

Beyond one primary, the service's data is meant to be distributed by subject with Citus: every
subject-keyed table hashed on `subject_id` (the `subjects` table on its `id`), so that everything
about one subject lives on one node, while policies and keys become reference tables (a copy on
every node) and the compliance side's queues stay on the coordinator. That works only while:

- every table is placed (distributed by subject, reference, or coordinator), and a table with a
  `subject_id` column is distributed by it unless an exception below says why not;
- a distributed table has its distribution column in its primary key and in every unique index
  (a node can only enforce uniqueness on what it holds);
- a foreign key between distributed tables joins on the subject (co-located), a distributed table
  refers only to distributed or reference tables, and a reference table only to reference tables;
- every statement of `consent/store` reads a distributed table only by subject: PostgreSQL's own
  generic plan of it (index paths preferred) shows a condition on the subject for each scan of such
  a table. A statement that finds rows another way would visit every node: those that must are
  listed with the reason, and docs/scaling.md says what changes for them at that step.

This test reads the live schema after every migration (pg_catalog) and the statements from the
store modules' source (`ast`), so a new table, foreign key or statement that closes the path fails
here. Changing a landed migration is never the fix: a new one, or a reasoned entry below, is.
"""

from __future__ import annotations

import ast
import enum
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest

from consent.store.pool import Connection

STORE = Path(__file__).resolve().parents[2] / "consent" / "store"


class Placement(enum.Enum):
    SUBJECT = "distributed by subject"
    REFERENCE = "reference (a copy on every node)"
    COORDINATOR = "coordinator (one node, compliance side)"


PLACEMENT = {
    "subjects": Placement.SUBJECT,
    "subject_keys": Placement.SUBJECT,
    "subject_identifiers": Placement.SUBJECT,
    "personal_records": Placement.SUBJECT,
    "erasure_tombstones": Placement.SUBJECT,
    "partial_erasures": Placement.SUBJECT,
    "consent_events": Placement.SUBJECT,
    "consent_state": Placement.SUBJECT,
    "subject_facts": Placement.SUBJECT,
    "subject_holds": Placement.SUBJECT,
    "api_keys": Placement.REFERENCE,
    "policy_versions": Placement.REFERENCE,
    "master_key_versions": Placement.REFERENCE,
    "schema_migrations": Placement.COORDINATOR,
    "audit_log": Placement.COORDINATOR,
    "audit_checkpoints": Placement.COORDINATOR,
    "idempotency_keys": Placement.COORDINATOR,
    "jobs": Placement.COORDINATOR,
    "outbox": Placement.COORDINATOR,
    "requests": Placement.COORDINATOR,
    "request_verifications": Placement.COORDINATOR,
    "request_deliveries": Placement.COORDINATOR,
    "exports": Placement.COORDINATOR,
}

# Tables that name a subject but stay on the coordinator, and why.
SUBJECT_COLUMN_ON_COORDINATOR = {
    "outbox": "leased across subjects by due time (FOR UPDATE SKIP LOCKED), which only one node can do;"
    " its primary key is (id) alone",
    "jobs": "a queue leased across subjects by due time; most jobs name no subject",
    "idempotency_keys": "looked up by (API key, Idempotency-Key) before the subject is known; the subject id"
    " is there only so an erasure can delete the subject's stored answers",
    "exports": "found by its link's token hash (the person holding the link knows no subject id) and by"
    " request, and purged by expiry across subjects; one row per access request, small and short-lived",
    "requests": "the compliance queue, listed across subjects by state, type and due date; kept 24 months"
    " after the subject's erasure, so it has no key into the subject's tables",
}

# The distribution column of each distributed table when it is not `subject_id`.
DISTRIBUTION_COLUMN = {"subjects": "id"}

# Statements of `consent/store` that read a distributed table other than by subject, and why.
# docs/scaling.md says what each one becomes on a sharded database.
FAN_OUT = {
    "consent_state.resolve": "a cold check finds the subject of an identifier by its blind index; sharded,"
    " the identifier lookup becomes a table of its own distributed by blind index",
    "vault.fetch_identifier_candidates": "the same lookup by blind index on the locking path",
    "consent_events.fetch_feed": "the change feed reads every subject in commit order",
    "consent_expiry.lock_expiring_grants": "housekeeping finds grants past their lifetime by purpose",
    "consent_state.count_outdated_grants": "counts grants of a purpose under an older notice (policy check)",
    "erasure.iter_erasures": "tombstones and partial erasures since a time, for a restore (CLI)",
    "vault.count_keys_by_master_version": "key status counts every data key (CLI)",
    "vault.lock_stale_keys": "master key rotation walks every data key in batches",
    "vault.retire_master_version": "retiring a master key version asks whether any data key still uses it",
    "vault.delete_stale_fields": "retention finds the personal-record fields past their category's retention"
    " by the time they were written, across subjects (housekeeping)",
    "consent_events.fetch_plain_user_agents": "the one-off rekeying of proofs stored before migration 0009"
    " walks every event still holding a plain user-agent digest",
}

# The statements every check and recording runs: they must be found (a rename is noticed here) and
# each must be routed by subject, or be a FAN_OUT with its reason.
HOT = {
    "consent_state.fetch_states",
    "consent_state.resolve",
    "consent_batch.write_batch",
    "consent_batch.create_and_write_batch",
    "consent_events.fetch_history",
    "consent_events.fetch_feed",
    "consent_events.claim_idempotency_keys",
    "consent_events.fetch_idempotency",
    "vault.fetch_wrapped_key",
    "vault.insert_new_subjects",
}

# Statements whose text is assembled at run time (an f-string over local values): they cannot be
# planned here, so each is listed with the tables it touches, none of them distributed.
DYNAMIC = {
    "requests.fetch_request": {"requests"},
    "requests.update_request": {"requests"},
    "requests.list_requests": {"requests"},
    "exports.insert_export": {"exports"},
    "roles.ensure_service_login": set(),  # CREATE ROLE / GRANT: no table
}

_EXECUTING = frozenset(
    {"fetch", "fetchrow", "fetchval", "execute", "executemany", "cursor", "_run", "fetch_in_index_order"}
)
_PLANNABLE = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LOCK|CREATE|DISCARD)\b", re.IGNORECASE)


class Statement(NamedTuple):
    where: str  # module.function
    sql: str | None  # None: assembled at run time


def store_statements() -> Iterator[Statement]:
    """Every SQL text a store function sends: its argument evaluated in the module's namespace."""
    for path in sorted(STORE.glob("*.py")):
        module = importlib.import_module(f"consent.store.{path.stem}")
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            where = f"{path.stem}.{function.name}"
            for call in ast.walk(function):
                if not isinstance(call, ast.Call) or _called_name(call.func) not in _EXECUTING:
                    continue
                for arg in call.args[:2]:
                    yield from _statement_in(arg, where, vars(module))


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _statement_in(arg: ast.expr, where: str, namespace: dict[str, Any]) -> Iterator[Statement]:
    try:
        value = eval(compile(ast.Expression(arg), where, "eval"), dict(namespace))  # noqa: S307 - our own source
    except (NameError, AttributeError, SyntaxError):
        head = arg.values[0] if isinstance(arg, ast.JoinedStr) and arg.values else None
        if isinstance(head, ast.Constant) and _SQL.match(str(head.value)):
            yield Statement(where, None)
        return
    if isinstance(value, str) and _SQL.match(value):
        yield Statement(where, value)


class Schema(msgspec.Struct, frozen=True):
    columns: dict[str, set[str]]
    unique_keys: dict[str, list[tuple[str, list[str]]]]  # table -> (constraint or index, columns)
    foreign_keys: list[tuple[str, str, str, list[tuple[str, str]]]]  # name, table, referenced, column pairs


async def read_schema(conn: Connection) -> Schema:
    columns: dict[str, set[str]] = {}
    for row in await conn.fetch(
        """
        SELECT c.relname, a.attname FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        """
    ):
        columns.setdefault(row["relname"], set()).add(row["attname"])
    unique_keys: dict[str, list[tuple[str, list[str]]]] = {}
    for row in await conn.fetch(
        """
        SELECT t.relname AS tbl, i.relname AS idx,
               array(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a
                       ON a.attrelid = t.oid AND a.attnum = k) AS cols
          FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = current_schema() AND x.indisunique
        """
    ):
        unique_keys.setdefault(row["tbl"], []).append((row["idx"], list(row["cols"])))
    foreign_keys = [
        (row["conname"], row["tbl"], row["ref"], list(zip(row["cols"], row["ref_cols"], strict=True)))
        for row in await conn.fetch(
            """
            SELECT c.conname, t.relname AS tbl, r.relname AS ref,
                   array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
                   array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                           JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS ref_cols
              FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = current_schema() AND c.contype = 'f'
            """
        )
    ]
    return Schema(columns=columns, unique_keys=unique_keys, foreign_keys=foreign_keys)


def placement_of(table: str, schema: Schema) -> Placement | None:
    """Where `table` goes: a table naming a subject is distributed by it unless it is a listed exception."""
    if "subject_id" in schema.columns.get(table, ()) and table not in SUBJECT_COLUMN_ON_COORDINATOR:
        return Placement.SUBJECT
    return PLACEMENT.get(table)


def distribution_column(table: str) -> str:
    return DISTRIBUTION_COLUMN.get(table, "subject_id")


def schema_violations(schema: Schema) -> list[str]:
    """What in `schema` a database distributed by subject could not hold as it is."""
    found = []
    for table in sorted(schema.columns):
        placement = placement_of(table, schema)
        if placement is None:
            found.append(f"{table}: not placed (distributed by subject, reference or coordinator)")
        elif placement is Placement.SUBJECT:
            column = distribution_column(table)
            if column not in schema.columns[table]:
                found.append(f"{table}: placed as distributed by subject but has no {column} column")
            found += [
                f"{table}: unique key {name} {columns} lacks the distribution column {column}"
                for name, columns in schema.unique_keys.get(table, [])
                if column not in columns
            ]
            if not any(name.endswith("_pkey") for name, _ in schema.unique_keys.get(table, [])):
                found.append(f"{table}: no primary key (it needs one holding {column})")
    for name, table, referenced, pairs in schema.foreign_keys:
        source, target = placement_of(table, schema), placement_of(referenced, schema)
        if target is Placement.REFERENCE and source is not None:
            continue
        if source is target is Placement.SUBJECT:
            if (distribution_column(table), distribution_column(referenced)) not in pairs:
                found.append(f"{table}: foreign key {name} to {referenced} does not join on the subject")
        elif source is not target:
            found.append(f"{table}: foreign key {name} from {source} to {referenced}, {target}")
    return found


# A scan of a distributed table is routed when one of its conditions fixes the distribution column.
_CONDITIONS = ("Index Cond", "Recheck Cond", "Filter", "TID Cond")


def _unrouted_scans(plan: dict[str, Any], schema: Schema) -> Iterator[str]:
    table = plan.get("Relation Name")
    if table is not None and "Scan" in plan["Node Type"] and placement_of(table, schema) is Placement.SUBJECT:
        routed = re.compile(rf"\(({re.escape(distribution_column(table))}) = ")
        conditions = " ".join(str(plan.get(key, "")) for key in _CONDITIONS)
        children = " ".join(str(child.get("Index Cond", "")) for child in plan.get("Plans", []))
        if not routed.search(conditions + " " + children):
            yield f"{table} by {conditions.strip() or 'a full scan'}"
    for child in plan.get("Plans", []):
        yield from _unrouted_scans(child, schema)


async def fan_outs(conn: Connection, sql: str, schema: Schema) -> list[str]:
    """The scans of distributed tables in the generic plan of `sql` that no subject condition routes."""
    await conn.execute(f"PREPARE probe AS {sql}")
    params = await conn.fetchval("SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'probe'")
    nulls = f"({', '.join(['NULL'] * params)})" if params else ""
    # Index paths wherever one exists, so each scan shows the condition that finds its rows.
    async with conn.transaction():
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin", "enable_bitmapscan"):
            await conn.execute(f"SET LOCAL {setting} = off")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        try:
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON, COSTS OFF) EXECUTE probe{nulls}")
        finally:
            await conn.execute("DEALLOCATE probe")
    return sorted(set(_unrouted_scans(plan[0]["Plan"], schema)))


async def statement_violations(conn: Connection, statements: list[Statement], schema: Schema) -> list[str]:
    found = []
    for statement in statements:
        if statement.sql is None:
            if statement.where not in DYNAMIC:
                found.append(f"{statement.where}: SQL assembled at run time; list its tables in DYNAMIC")
            continue
        if not _PLANNABLE.match(statement.sql):
            continue
        scans = await fan_outs(conn, statement.sql, schema)
        if scans and statement.where not in FAN_OUT:
            found.append(f"{statement.where}: reads {'; '.join(scans)}, not by subject")
    return found


@pytest.fixture
async def conn(owner_conn: Connection) -> Connection:
    """The schema's owner: these tests create tables and plan every statement of the store."""
    return owner_conn


@pytest.fixture
async def schema(conn: Connection) -> Schema:
    return await read_schema(conn)


@pytest.fixture(scope="module")
def statements() -> list[Statement]:
    return list(store_statements())


async def test_every_table_can_be_distributed_by_subject_or_placed_beside_it(schema: Schema) -> None:
    assert schema_violations(schema) == []


async def test_every_store_statement_reads_subject_tables_by_subject(
    conn: Connection, schema: Schema, statements: list[Statement]
) -> None:
    assert await statement_violations(conn, statements, schema) == []


async def test_the_lists_name_what_exists_and_each_exception_is_still_needed(
    conn: Connection, schema: Schema, statements: list[Statement]
) -> None:
    found = {s.where for s in statements}
    assert found >= HOT, f"hot statements not found in consent/store: {sorted(HOT - found)}"
    assert set(FAN_OUT) <= found
    assert set(PLACEMENT) == set(schema.columns), "PLACEMENT names a table that does not exist, or misses one"
    assert {s.where for s in statements if s.sql is None} == set(DYNAMIC)
    still_fanning_out = set()
    for statement in statements:
        if statement.sql and _PLANNABLE.match(statement.sql) and await fan_outs(conn, statement.sql, schema):
            still_fanning_out.add(statement.where)
    assert set(FAN_OUT) == still_fanning_out, "a FAN_OUT entry whose statement is now routed by subject"


async def test_a_new_subject_table_without_the_subject_in_its_primary_key_fails(conn: Connection) -> None:
    await conn.execute("CREATE TABLE consent_notes (id uuid PRIMARY KEY, subject_id uuid NOT NULL, note bytea)")
    assert schema_violations(await read_schema(conn)) == [
        "consent_notes: unique key consent_notes_pkey ['id'] lacks the distribution column subject_id"
    ]


async def test_a_new_table_nobody_placed_fails(conn: Connection) -> None:
    await conn.execute("CREATE TABLE banner_themes (name text PRIMARY KEY, css text)")
    assert schema_violations(await read_schema(conn)) == [
        "banner_themes: not placed (distributed by subject, reference or coordinator)"
    ]


async def test_a_foreign_key_across_subjects_fails(conn: Connection) -> None:
    await conn.execute(
        """
        CREATE TABLE referrals (
            subject_id uuid NOT NULL REFERENCES subjects (id),
            referred_by uuid NOT NULL REFERENCES subjects (id),
            PRIMARY KEY (subject_id, referred_by)
        )
        """
    )
    assert schema_violations(await read_schema(conn)) == [
        "referrals: foreign key referrals_referred_by_fkey to subjects does not join on the subject"
    ]


async def test_a_foreign_key_from_the_coordinator_into_a_subject_table_fails(conn: Connection) -> None:
    await conn.execute("ALTER TABLE jobs ADD FOREIGN KEY (subject_id) REFERENCES subjects (id)")
    assert schema_violations(await read_schema(conn)) == [
        "jobs: foreign key jobs_subject_id_fkey from Placement.COORDINATOR to subjects, Placement.SUBJECT"
    ]


async def test_a_statement_that_finds_subject_rows_another_way_fails(conn: Connection, schema: Schema) -> None:
    by_purpose = Statement("consent_state.granted_to", "SELECT subject_id FROM consent_state WHERE purpose = $1")
    by_subject = Statement("consent_state.of", "SELECT purpose FROM consent_state WHERE subject_id = ANY($1::uuid[])")
    joined = Statement(
        "consent_events.with_state",
        "SELECT e.id FROM consent_state s JOIN consent_events e ON e.subject_id = s.subject_id AND e.id = s.event_id"
        " WHERE s.subject_id = $1",
    )
    found = await statement_violations(conn, [by_purpose, by_subject, joined], schema)
    assert found == [
        "consent_state.granted_to: reads consent_state by (purpose = $1), not by subject",
    ]
