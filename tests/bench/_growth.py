"""`make bench BENCH_ARGS="--scale"`: the service's hot paths as its data grows.

One service runtime in this process, on a throw-away embedded PostgreSQL. The database is filled
through the service's own write path (the consent writer's batches, which create the subjects and
write events, state, facts, audit and outbox rows in one statement each), ten events per subject
(two recordings of five purposes), to 10^4, 10^5, ... consent events, up to `--scale-max`; after
each fill it waits for the audit sealer to cover the fill's entries. At each
size it measures, without HTTP (the HTTP layer's cost is the other scenarios' business):

- a single check by user id, cached (identifier and state in memory) and uncached (both caches
  cleared before each check: the identifier lookup and the state read, one round trip);
- a batch of 1,000 uncached checks; a recording (sequential, each waiting for its commit);
- change-feed catch-up (events per second, pages of 1,000 from the start, the median of three reads);
- the request list (a page of 100 open requests, one request per 10 subjects);
- checks of uniformly random subjects (by subject id) with a state cache a tenth the size of the
  subjects (a runtime of its own: CONSENT_STATE_CACHE_SIZE and CONSENT_CACHE_SIZE = subjects / 10),
  and the state cache's hit rate there.

Each figure is printed beside its value at 10^4, the run's baseline. At the largest size it adds
EXPLAIN (ANALYZE, BUFFERS) of the hot statements, each table's size and this process's resident
memory. At each size it also exports and then erases three new subjects with a full record and
1,000 events each (an access export to a stored zip, an erasure to nothing personal readable, each
as its job runs it), and prints the medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from uuid import UUID

import msgspec

from consent.config import Settings, load_settings
from consent.runtime import Runtime, running
from consent.service.checking.answers import CheckQuery, answer_checks
from consent.service.recording.prepare import Action, Choice, RecordingRequest
from consent.service.requests.intake import NewRequestIn, Verification
from consent.store import consent_events, consent_state, requests
from consent.store.embedded import EmbeddedPostgres
from consent.store.migrate import apply_migrations
from consent.store.pool import connect
from policies import Jurisdiction, RequestType
from tests.bench import bench_erasure

EVENTS_PER_SUBJECT = 10
PURPOSES = ("analytics", "personalisation", "marketing_email", "advertising", "partner_sharing")
_NOTICES = {"analytics": 2, "partner_sharing": 3}
_IN_FLIGHT = 256  # recordings handed to the writer at once while filling
_SAMPLES = 400
_SUBJECT_ROUNDS = 3  # subjects exported and erased at each size
_SUBJECT_EVENTS = 1_000  # each one's consent events


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Figures(msgspec.Struct, kw_only=True):
    """One size's measurements: latencies in µs (p50), throughputs per second."""

    events: int
    subjects: int
    fill_seconds: float
    check_cached_us: float
    check_uncached_us: float
    batch_us_per_check: float
    record_us: float
    feed_events_per_s: float
    request_list_us: float
    check_tenth_cache_us: float
    tenth_cache_hit_rate: float
    export_ms: float
    erasure_ms: float


class Growth(msgspec.Struct, kw_only=True):
    sizes: list[Figures]
    explain: dict[str, str]
    table_sizes: list[tuple[str, int]]
    rss_kib: int


def _recording(runtime: Runtime, n: int, status: str) -> RecordingRequest:
    return RecordingRequest(
        identifier=runtime.subjects.identifier("user_id", f"u-{n}"),
        property="shop",
        jurisdiction=Jurisdiction.GDPR,
        language="en",
        action=Action.API,
        choices=[Choice(purpose=p, status=status, notice_version=_NOTICES.get(p, 1)) for p in PURPOSES],
        gpc=False,
        client_at=None,
        proof={"bench": True},
        actor="bench",
    )


async def _fill(runtime: Runtime, start: int, stop: int) -> None:
    """Subjects `start` to `stop`: a grant of every purpose, then a denial of it (ten events each)."""
    active = runtime.policy.current
    for status in ("granted", "denied"):
        for low in range(start, stop, _IN_FLIGHT):
            await asyncio.gather(
                *(
                    runtime.consents.record(active, _recording(runtime, n, status))
                    for n in range(low, min(low + _IN_FLIGHT, stop))
                )
            )


async def _p50(
    samples: int, call: Callable[[int], Awaitable[object]], before: Callable[[], None] | None = None
) -> float:
    for i in range(min(samples, 50)):  # warm up: connections opened, plans made, the code paths run
        if before is not None:
            before()
        await call(i)
    times = []
    for i in range(samples):
        if before is not None:
            before()
        started = time.perf_counter()
        await call(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def _check_of(runtime: Runtime, n: int) -> CheckQuery:
    return CheckQuery(identifier=runtime.subjects.identifier("user_id", f"u-{n}"), purposes=["analytics"])


async def _checks(runtime: Runtime, subjects: int, rng: random.Random) -> tuple[float, float, float]:
    active = runtime.policy.current
    picks = [rng.randrange(subjects) for _ in range(_SAMPLES)]

    def cold() -> None:
        runtime.states.clear()
        runtime.subjects.clear()

    async def one(i: int) -> object:
        return await answer_checks(
            runtime.cold_reads,
            runtime.subjects,
            runtime.states,
            active,
            [_check_of(runtime, picks[i])],
            reveal_contacts=False,  # as a check key asks
        )

    uncached = await _p50(_SAMPLES, one, cold)
    await one(0)
    cached = await _p50(_SAMPLES, lambda _i: one(0))
    # A thousand different subjects: drawn with replacement, the 10^4 batch (of 1,000 subjects) held ~632
    # distinct ones, each looked up once, so the baseline was a third cheaper than any other size.
    batch = [_check_of(runtime, n) for n in rng.sample(range(subjects), 1000)]

    async def thousand(_i: int) -> object:
        return await answer_checks(
            runtime.cold_reads, runtime.subjects, runtime.states, active, batch, reveal_contacts=False
        )

    batch_us = await _p50(15, thousand, cold)
    return cached, uncached, batch_us / 1000


async def _feed_rate(runtime: Runtime, events: int) -> float:
    """Events per second reading the feed from its start, pages of 1,000, up to 20,000 events: the
    median of three reads (one read takes a fraction of a second, and swung 0.3x to 1.4x between
    runs when a single one was taken)."""
    rates = []
    for _ in range(3):
        wanted, read, cursor = min(events, 20_000), 0, None
        started = time.perf_counter()
        while read < wanted:
            page = await runtime.feed.page(cursor, limit=1000, wait=0)
            read += len(page.changes)
            cursor = page.next
            if not page.changes:
                break
        rates.append(read / (time.perf_counter() - started))
    return statistics.median(rates)


async def _seed_requests(runtime: Runtime, since: int) -> None:
    """One open access request per 10 subjects (the request list's own rows), written in SQL: a full
    page of 100 from the smallest size on, so that every size lists the same page."""
    async with runtime.pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO requests (id, subject_id, type, state, jurisdiction, channel, verification, approval,
                                  received_at, due_at, created_by, updated_at)
            SELECT gen_random_uuid(), s.subject_id, 'access', 'received', 'gdpr', 'web', 'trusted', 'automatic',
                   now(), current_date + 30, 'bench', now()
              FROM (SELECT subject_id, row_number() OVER (ORDER BY subject_id) AS n FROM subject_keys) s
             WHERE s.n > $1 AND s.n % 10 = 0
            ON CONFLICT DO NOTHING
            """,
            since,
        )


async def _export_and_erasure(runtime: Runtime, run: int) -> tuple[float, float]:
    """Median ms of an access export, then of an erasure, each of a new subject with a full record and
    1,000 events (`bench_erasure.seed`), as their jobs run them (the runner is stopped by then)."""
    exports, erasures = [], []
    for round_ in range(_SUBJECT_ROUNDS):
        number = 40 + run * 10 + round_  # its record's phone number and email: unique, valid
        subject = await bench_erasure.seed(runtime, number, events=_SUBJECT_EVENTS)
        received = await runtime.requests.receive(
            NewRequestIn(
                type=RequestType.ACCESS, subject=subject, jurisdiction=Jurisdiction.GDPR,
                verification=Verification.TRUSTED, actor="bench", trusted_caller=True,
            )
        )  # fmt: skip
        started = time.perf_counter()
        await runtime.exports.export_executor(received.request)
        exports.append((time.perf_counter() - started) * 1000)
        erasures.append(await bench_erasure.erasure_ms(runtime, subject))
    return statistics.median(exports), statistics.median(erasures)


async def _measure(
    runtime: Runtime, settings: Settings, url: str, events: int, fill_seconds: float, *, run: int
) -> Figures:
    """One size's figures. `run` numbers the measurements, so that each one's recordings, exports and
    erasures are of new subjects (a recording of a known subject costs less than one that creates it)."""
    subjects = events // EVENTS_PER_SUBJECT
    rng = random.Random(events)  # noqa: S311 - which subjects to check, not a secret
    cached, uncached, batch_us = await _checks(runtime, subjects, rng)
    active = runtime.policy.current
    counter = iter(range(10**9))
    record = await _p50(
        200,
        lambda _i: runtime.consents.record(active, _recording(runtime, 10**8 + run * 10**4 + next(counter), "granted")),
    )
    feed = await _feed_rate(runtime, events)
    listing = await _p50(
        200, lambda _i: requests.list_requests(runtime.pool, requests.ListFilter(state="received", limit=100))
    )
    tenth, hit_rate = await _tenth_cache(settings, url, subjects, rng)
    export, erasure = await _export_and_erasure(runtime, run)
    return Figures(
        events=events, subjects=subjects, fill_seconds=fill_seconds, check_cached_us=cached,
        check_uncached_us=uncached, batch_us_per_check=batch_us, record_us=record, feed_events_per_s=feed,
        request_list_us=listing, check_tenth_cache_us=tenth, tenth_cache_hit_rate=hit_rate,
        export_ms=export, erasure_ms=erasure,
    )  # fmt: skip


async def _tenth_cache(settings: Settings, url: str, subjects: int, rng: random.Random) -> tuple[float, float]:
    """Checks of uniformly random subjects by id, the state cache a tenth the size of the subjects, once warm."""
    size = max(1, subjects // 10)
    small = msgspec.structs.replace(settings, state_cache_size=size, cache_size=size)
    async with running(small, url) as runtime:
        active = runtime.policy.current
        async with runtime.pool.acquire() as conn:
            ids = [row[0] for row in await conn.fetch("SELECT subject_id FROM subject_keys")]

        async def one(_i: int) -> object:
            query = CheckQuery(subject_id=rng.choice(ids), purposes=["analytics"])
            return await answer_checks(
                runtime.cold_reads, runtime.subjects, runtime.states, active, [query], reveal_contacts=False
            )

        await _p50(min(size * 2, 20_000), one)  # fill the caches
        hits, misses = runtime.states.hits, runtime.states.misses
        figure = await _p50(2000, one)
        hit_rate = (runtime.states.hits - hits) / max(1, runtime.states.hits - hits + runtime.states.misses - misses)
        return figure, hit_rate


_HOT = {
    "check (consent_state.fetch_states)": (consent_state._FETCH, "subjects"),
    "cold check (consent_state.resolve)": (consent_state._RESOLVE, "resolve"),
    "history (consent_events.fetch_history)": (
        "SELECT * FROM consent_events WHERE subject_id = $1 ORDER BY recorded_at, id",
        "subject",
    ),
    "feed (consent_events.fetch_feed)": (consent_events._FEED, "feed"),
    "request list (requests.list_requests)": (
        "SELECT * FROM requests WHERE state = $1 ORDER BY id LIMIT 100",
        "received",
    ),
}


async def _explain(url: str) -> dict[str, str]:
    conn = await connect(url)
    try:
        subject = await conn.fetchval("SELECT subject_id FROM subject_keys ORDER BY random() LIMIT 1")
        kinds, indexes = "user_id", await conn.fetchval("SELECT blind_index FROM subject_identifiers LIMIT 1")
        arguments: dict[str, tuple[object, ...]] = {
            "subjects": ([subject],),
            "resolve": ([kinds], [indexes], [subject]),
            "subject": (subject,),
            "feed": ("0", UUID(int=0), 1000),
            "received": ("received",),
        }
        plans = {}
        for name, (sql, args) in _HOT.items():
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *arguments[args])
            plans[name] = "\n".join(row[0] for row in rows)
        return plans
    finally:
        await conn.close()


async def _table_sizes(url: str) -> list[tuple[str, int]]:
    conn = await connect(url)
    try:
        rows = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC"
        )
        return [(row["relname"], row["bytes"]) for row in rows]
    finally:
        await conn.close()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.asynccontextmanager
async def _database(scratch: Path) -> AsyncIterator[str]:
    server = EmbeddedPostgres.start(scratch)
    try:
        admin = await connect(server.url("postgres"))
        try:
            await admin.execute("CREATE DATABASE growth")
        finally:
            await admin.close()
        url = server.url("growth")
        conn = await connect(url)
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()
        yield url
    finally:
        server.stop()


async def _until_sealed(runtime: Runtime) -> None:
    """Wait until the audit sealer (in this process) has covered the fill's entries with checkpoints,
    so its catching up does not share the event loop and the cores with the measurements."""
    unsealed = (
        "SELECT count(*) FROM audit_log WHERE position >"
        " coalesce((SELECT max(last_position) FROM audit_checkpoints), 0)"
    )
    for _ in range(1200):  # ten minutes at most
        if await runtime.pool.fetchval(unsealed) == 0:
            return
        await asyncio.sleep(0.5)
    _say("growth: the audit sealer has not caught up after ten minutes; measuring anyway")


async def measure_growth(scratch: Path, largest: int) -> Growth:
    sizes = [10**k for k in range(4, 9) if 10**k <= largest]
    async with _database(scratch) as url:
        settings = load_settings(
            {},
            database_url=url,
            home=str(scratch / "home"),
            env="development",
            audit_seal_interval_ms=1000,
            policy_file=bench_erasure.immediate_erasure_policy(scratch),  # its erasures run at once
        )
        figures: list[Figures] = []
        async with running(settings, url) as runtime:
            await runtime.jobs.stop()  # the export and erasure figures run their jobs themselves
            filled = 0
            for run, events in enumerate(sizes, start=1):
                subjects = events // EVENTS_PER_SUBJECT
                _say(f"growth: filling to {events:,} events ({subjects:,} subjects)")
                started = time.perf_counter()
                await _fill(runtime, filled, subjects)
                await _seed_requests(runtime, filled)
                await _until_sealed(runtime)
                async with runtime.pool.acquire() as conn:
                    await conn.execute("VACUUM ANALYZE")
                    await conn.execute("CHECKPOINT")  # the fill's dirty pages written now, not while measuring
                fill_seconds = time.perf_counter() - started
                filled = subjects
                figures.append(await _measure(runtime, settings, url, events, fill_seconds, run=run))
                _say(f"  {msgspec.json.encode(figures[-1]).decode()}")
            rss = _rss_kib()
        return Growth(sizes=figures, explain=await _explain(url), table_sizes=await _table_sizes(url), rss_kib=rss)


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def render_growth(growth: Growth) -> str:
    base = growth.sizes[0]
    columns = [
        ("check, cached (µs p50)", "check_cached_us"),
        ("check, uncached (µs p50)", "check_uncached_us"),
        ("batch check (µs per check)", "batch_us_per_check"),
        ("recording (µs p50)", "record_us"),
        ("feed catch-up (events/s)", "feed_events_per_s"),
        ("request list (µs p50)", "request_list_us"),
        ("check, cache = subjects/10 (µs p50)", "check_tenth_cache_us"),
        ("  its state cache hit rate", "tenth_cache_hit_rate"),
        ("access export, 1,000 events (ms)", "export_ms"),
        ("erasure, 1,000 events (ms)", "erasure_ms"),
    ]
    lines = ["## Growth (baseline: the 10^4 column)", ""]
    lines.append("| figure | " + " | ".join(f"{f.events:,} events" for f in growth.sizes) + " |")
    lines.append("|---|" + "---|" * len(growth.sizes))
    lines.append("| fill time (s) | " + " | ".join(f"{f.fill_seconds:,.0f}" for f in growth.sizes) + " |")
    for label, field in columns:
        cells = []
        for f in growth.sizes:
            value, at_base = getattr(f, field), getattr(base, field)
            cells.append(f"{value:,.2f}" + ("" if f is base else f" ({_ratio(value, at_base)})"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Resident memory of the process (runtime and caches) at the end: {growth.rss_kib / 1024:,.0f} MiB",
        "",
    ]
    lines += ["| table | size (MiB) |", "|---|---|"]
    lines += [f"| {name} | {size / 2**20:,.1f} |" for name, size in growth.table_sizes if size > 64 * 1024]
    for name, plan in growth.explain.items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS) at {growth.sizes[-1].events:,} events: {name}", "```", plan, "```"]
    return "\n".join(lines)


def run_growth(scratch: Path, largest: int) -> str:
    growth = asyncio.run(measure_growth(scratch / "growth", largest))
    return render_growth(growth)


__all__ = ["EVENTS_PER_SUBJECT", "Growth", "measure_growth", "render_growth", "run_growth"]
