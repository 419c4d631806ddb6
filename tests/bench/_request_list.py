"""The request queue over 100,000 requests, filtered by state and due date: under 50 ms (issue 11).

`consent serve` on its own throw-away database (as `_servers.consent_service` starts it) is seeded
with 100,000 requests over the last 23 months, in SQL: most completed (one in twenty rejected),
those of the last 45 days still open (received, verified or in progress), each due a month after
receipt, with UUIDv7 ids in the order of receipt as the service makes them. Then, for each filter a
compliance officer uses, one page (100 requests) is fetched in turn over one keep-alive connection:
through `GET /v1/requests` (a `dsr` key), and, as its baseline B, the store's own query
(`consent.store.requests.list_requests`) on one asyncpg connection with the service's session
settings, no pool, framework or HTTP in between. The plan PostgreSQL makes for it, planned once for
any parameters as the service's are, is printed beside.

>>> print(measure_request_list(Path("/tmp/x"), workers=2))  # a table, or raises BenchError
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import math
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import asyncpg
import msgspec

from consent.store.embedded import EmbeddedPostgres
from consent.store.pool import Connection, connect
from consent.store.requests import ListFilter, list_requests
from tests.bench._http import HttpError
from tests.bench._servers import BenchError, ConsentService, consent_service

__all__ = ["REQUESTS", "TARGET_P99_MS", "measure_request_list"]

REQUESTS = 100_000
TARGET_P99_MS = 50.0
_ROUNDS = 200
_WARMUP = 20
_PAGE = 100

# Ids as the service makes them (UUIDv7: milliseconds of receipt first); one request every ten minutes.
_SEED = """
INSERT INTO requests (id, subject_id, type, state, jurisdiction, channel, verification, approval, received_at,
                      acknowledge_by, due_at, completed_at, rejected_at, rejection_reason, created_by, updated_at)
SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3) || '8'
        || substr(h, 4, 15))::uuid,
       gen_random_uuid(), (ARRAY['access', 'portability', 'erasure', 'rectification'])[1 + n % 4], state,
       (ARRAY['gdpr', 'ccpa', 'lgpd', 'appi'])[1 + n % 4], 'web', 'trusted', 'automatic', at, NULL,
       (at + interval '1 month')::date,
       CASE WHEN state = 'completed' THEN at + interval '20 days' END,
       CASE WHEN state = 'rejected' THEN at + interval '3 days' END,
       CASE WHEN state = 'rejected' THEN 'identity not verified' END,
       'bench', at
  FROM (
    SELECT n, md5(n::text) AS h, now() - n * interval '10 minutes' AS at,
           CASE WHEN n * interval '10 minutes' < interval '45 days'
                THEN (ARRAY['received', 'verified', 'in_progress'])[1 + n % 3]
                WHEN n % 20 = 0 THEN 'rejected' ELSE 'completed' END AS state
      FROM generate_series(1, $1::int) AS n
  ) AS seeded
"""


class _Filter(msgspec.Struct, frozen=True):
    label: str
    state: str
    due_before: date


def _filters(today: date) -> list[_Filter]:
    return [
        _Filter("in progress, due within a week", "in_progress", today + timedelta(days=7)),
        _Filter("received, overdue", "received", today),
        _Filter("completed, due over a year ago", "completed", today - timedelta(days=365)),
        _Filter("rejected, due over a year ago", "rejected", today - timedelta(days=365)),
    ]


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@contextlib.contextmanager
def _database(service: ConsentService) -> Iterator[str]:
    """The service's database: DATABASE_URL, or its embedded server (this handle let go before it stops)."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    embedded = EmbeddedPostgres.start(service.home)
    try:
        yield embedded.url("consent")
    finally:
        embedded.stop()


class _Page:
    """GET one page of the queue over one keep-alive connection."""

    def __init__(self, base_url: str, token: str) -> None:
        if not base_url.startswith("http://127.0.0.1:"):
            raise HttpError(f"benchmarks only talk to 127.0.0.1, not {base_url}")
        self._conn = http.client.HTTPConnection("127.0.0.1", int(base_url.rsplit(":", 1)[1]), timeout=10.0)
        self._headers = {"Authorization": f"Bearer {token}"}

    def fetch(self, where: _Filter) -> int:
        path = f"/v1/requests?state={where.state}&due_before={where.due_before.isoformat()}&limit={_PAGE}"
        self._conn.request("GET", path, headers=self._headers)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise HttpError(f"GET {path}: {response.status} {body[:300].decode(errors='replace')}")
        return len(msgspec.json.decode(body)["requests"])

    def close(self) -> None:
        self._conn.close()


def _timed_http(page: _Page, filters: list[_Filter]) -> tuple[list[list[float]], list[int]]:
    """Each filter's page `_ROUNDS` times, the filters taking turns (so a busier moment of the machine
    does not fall on one of them); and how many requests each page held."""
    timings: list[list[float]] = [[] for _ in filters]
    found = [0] * len(filters)
    for round_number in range(-_WARMUP, _ROUNDS):
        for number, where in enumerate(filters):
            start = time.perf_counter()
            found[number] = page.fetch(where)
            if round_number >= 0:
                timings[number].append(time.perf_counter() - start)
    return timings, found


class _Recorded:
    """A connection that remembers the last statement it ran and its arguments, to show its plan."""

    def __init__(self, conn: asyncpg.Connection[asyncpg.Record]) -> None:
        self._conn = conn
        self.statement: tuple[str, tuple[object, ...]] = ("", ())

    async def fetch(self, statement: str, *args: object) -> list[asyncpg.Record]:
        self.statement = (statement, args)
        return await self._conn.fetch(statement, *args)


def _literal(value: object) -> str:
    if isinstance(value, date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


async def _plan(conn: asyncpg.Connection[asyncpg.Record], statement: str, args: tuple[object, ...]) -> str:
    """The scan PostgreSQL chooses for the statement in the service's sessions (one plan for any
    parameters: `plan_cache_mode`, set by `consent.store.pool.connect` as for the pool)."""
    await conn.execute(f"PREPARE bench_plan AS {statement}")
    try:
        plan = await conn.fetch(f"EXPLAIN EXECUTE bench_plan({', '.join(map(_literal, args))})")
    finally:
        await conn.execute("DEALLOCATE bench_plan")
    scan: str = next(line for (line,) in plan if "Scan" in line)
    return scan.strip().removeprefix("->  ").split("  (cost")[0]


async def _timed_store(url: str, filters: list[_Filter]) -> tuple[list[list[float]], list[str]]:
    """Each filter's page through the store alone, `_ROUNDS` times, taking turns as through the API;
    and the plan of each one's statement."""
    conn = await connect(url)
    recorded = _Recorded(conn)
    try:
        timings: list[list[float]] = [[] for _ in filters]
        statements: list[tuple[str, tuple[object, ...]]] = [("", ())] * len(filters)
        for round_number in range(-_WARMUP, _ROUNDS):
            for number, where in enumerate(filters):
                query = ListFilter(state=where.state, due_before=where.due_before, limit=_PAGE)
                start = time.perf_counter()
                await list_requests(cast(Connection, recorded), query)
                if round_number >= 0:
                    timings[number].append(time.perf_counter() - start)
                statements[number] = recorded.statement
        return timings, [await _plan(conn, statement, args) for statement, args in statements]
    finally:
        await conn.close()


async def _seed(url: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        start = time.perf_counter()
        await conn.execute(_SEED, REQUESTS)
        await conn.execute("ANALYZE requests")
        return time.perf_counter() - start
    finally:
        await conn.close()


def _row(label: str, times: list[float], *, target: bool) -> list[str]:
    p50, p99 = _percentile(times, 0.5) * 1000, _percentile(times, 0.99) * 1000
    verdict = ("PASS" if p99 < TARGET_P99_MS else f"MISS (p99 {p99:.2f} ≥ {TARGET_P99_MS:g} ms)") if target else ""
    return [label, f"{p50:.2f}", f"{p99:.2f}", f"p99 < {TARGET_P99_MS:g} ms" if target else "", verdict]


def _table(rows: list[list[str]]) -> str:
    headers = ["query", "p50 ms", "p99 ms", "target", "result"]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if i in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  " + "  ".join(padded).rstrip()

    return "\n".join(line(row) for row in [headers, *rows])


def measure_request_list(scratch: Path, *, workers: int) -> str:
    """Seed, measure every filter through the API and raw, and return the table (BenchError if it failed)."""
    scratch.mkdir(parents=True, exist_ok=True)
    filters = _filters(datetime.now(UTC).date())
    rows: list[list[str]] = []
    with consent_service(workers=workers, scratch=scratch) as service, _database(service) as url:
        seconds = asyncio.run(_seed(url))
        page = _Page(service.base_url, service.tokens["dsr"])
        try:
            through_api, found = _timed_http(page, filters)
        finally:
            page.close()
        raw, plans = asyncio.run(_timed_store(url, filters))
        if errors := service.log_errors():
            raise BenchError(f"the service logged errors: {errors[0]}")
    for where, times, rows_found, sql_times, plan in zip(filters, through_api, found, raw, plans, strict=True):
        rows.append(_row(f"GET /v1/requests: {where.label} ({rows_found} rows)", times, target=True))
        rows.append(_row(f"  B: the store's query alone ({plan})", sql_times, target=False))
    notes = [
        f"  {REQUESTS:,} requests seeded in {seconds:.1f} s; {_ROUNDS} pages of up to {_PAGE} per filter,",
        "  one at a time over one keep-alive connection, after a warm-up; B: the same page from the store's",
        "  query on one asyncpg connection, no pool, framework or HTTP.",
    ]
    return "\n".join([_table(rows), *notes])
