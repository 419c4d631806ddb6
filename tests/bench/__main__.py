"""`make bench`: the service under load, beside the bare-framework baseline of the same run.

    python -m tests.bench [--duration SECONDS] [--only NAME ...] [--connections 4,64] [--markdown] [--against REV]
    python -m tests.bench --scale [--scale-max EVENTS]

`--scale` runs the growth benchmark instead (`_growth.py`): the hot paths at 10^4, 10^5, ... consent
events, each figure beside its value at 10^4.

In order: the bare Litestar app under uvicorn (to check the choice of server);
the bare app under granian, the production server (B); `consent serve` on a
throw-away embedded PostgreSQL (or DATABASE_URL) with each scenario of
`_scenarios.SCENARIOS` at each connection count, each right after B at the
same count (granian kept running; that B is what the scenario is compared
with); B again after the service (its change since before is the run's
noise); with `--against REV`, the service as it was at that git revision too,
on its own database, measured right after this one at each scenario and
count (so a change is compared with its parent in the same run, under the
same load of the machine); withdrawal visibility across two instances
on one database (`_withdrawal.py`); the request queue over 100,000
requests, beside the store's query alone (`_request_list.py`); a flood from
one client network beside other clients (`_flood.py`); cached checks over
1, 2 and 4 service processes on one database (`_instances.py`); the in-process
benchmarks of `SCRIPTS` (crypto, the access export, the erasure of a subject
with 10,000 events), each printing its own table beside its own baseline.
Progress goes to stderr, the report to stdout.

The exit status is 1 when a scenario could not be measured or answered with
errors, the service logged an error, or a server did not stop cleanly; a
missed target is reported, not fatal (figures vary between runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path

from tests.bench._flood import Flood, measure_flood
from tests.bench._growth import run_growth
from tests.bench._http import HttpError, call
from tests.bench._instances import measure_instances
from tests.bench._report import Measured, Report, describe_machine, render_markdown, render_text
from tests.bench._request_list import REQUESTS, measure_request_list
from tests.bench._scenarios import BASELINE_GET, BASELINE_POST, SCENARIOS, Scenario, Tokens
from tests.bench._servers import BenchError, ConsentService, baseline_server, checkout, consent_service
from tests.bench._withdrawal import Withdrawal, measure_withdrawal
from tests.bench._wrk import WrkError, WrkRequest, WrkResult, run_wrk

_WARMUP_SECONDS = 1
SCRIPTS = {
    "crypto": ("Crypto micro-benchmark", Path(__file__).with_name("bench_crypto.py")),
    "export": ("Access export", Path(__file__).with_name("bench_export.py")),
    "erasure": ("Erasure", Path(__file__).with_name("bench_erasure.py")),
}
"""In-process benchmarks: `--only` name -> (title in the report, script printing its own table)."""
_ROOT = Path(__file__).resolve().parents[2]
_EXTRAS = ("uvicorn", "withdrawal", "flood", "request-list", "instances", *SCRIPTS)
_WITHDRAWAL_ROUNDS = 200


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _connection_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 4,64, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("connection counts must be positive")
    return counts


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [s.name for s in SCENARIOS] + list(_EXTRAS)
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, metavar="SECONDS", help="per measurement (default 5)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="NAME",
        help=f"run only these: {', '.join(names)} (the granian baseline runs with any scenario)",
    )
    parser.add_argument("--connections", type=_connection_counts, default=(4, 64), metavar="N,N", help="default 4,64")
    parser.add_argument("--markdown", action="store_true", help="print the report as Markdown for the docs")
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also measure the service at this git revision (e.g. HEAD~1) beside each scenario",
    )
    parser.add_argument("--scale", action="store_true", help="run the growth benchmark (_growth.py) instead")
    parser.add_argument(
        "--scale-max",
        type=int,
        default=10**7,
        metavar="EVENTS",
        help="largest size of the growth benchmark, in consent events (default 10^7; 10^6 takes minutes)",
    )
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    return args


def _probe(base_url: str, scenario: Scenario, tokens: Tokens) -> None:
    """One request before the load: a scenario answered with an error must not be timed."""
    request = scenario.request(base_url, tokens)
    body = request.body.replace(b"${n}", f"probe-{secrets.token_hex(4)}".encode()) if request.body else None
    status, answer = call(base_url, request.method, scenario.path, headers=request.headers, body=body)
    if status != scenario.expect:
        raise HttpError(f"expected {scenario.expect}, got {status}: {answer[:300].decode(errors='replace')}")


async def _complete(awaitable: Awaitable[None]) -> None:
    await awaitable


def _prepared(base_url: str, scenario: Scenario, tokens: Tokens, counts: tuple[int, ...]) -> WrkRequest:
    """The scenario's seed data, a probe and a warm-up against one server; the request to time."""
    if scenario.setup is not None and inspect.isawaitable(pending := scenario.setup(base_url, tokens)):
        asyncio.run(_complete(pending))
    _probe(base_url, scenario, tokens)
    request = scenario.request(base_url, tokens)
    run_wrk(request, connections=max(counts), duration=_WARMUP_SECONDS)
    return request


def _timed(
    label: str,
    request: WrkRequest,
    count: int,
    duration: int,
    *,
    beside: str = "",
    server: ConsentService | None = None,
) -> tuple[WrkResult, float | None]:
    """One wrk run; with `server`, also the CPU its processes spent per request, in microseconds."""
    before = server.server.cpu_seconds() if server is not None else 0.0
    result = run_wrk(request, connections=count, duration=duration)
    cpu = (server.server.cpu_seconds() - before) / result.requests * 1e6 if server and result.requests else None
    errors = f", {result.errors} errors" if result.errors else ""
    spent = f", {cpu:.0f} µs CPU/request" if cpu is not None else ""
    _say(f"  {label} at {count}: {result.rps:,.0f} rps, p99 {result.p99_ms:.2f} ms{spent}{errors}{beside}")
    return result, cpu


def _measure(
    base_url: str,
    scenario: Scenario,
    tokens: Tokens,
    *,
    connections: tuple[int, ...],
    duration: int,
    bare_url: str | None = None,
    service: ConsentService | None = None,
    against: ConsentService | None = None,
) -> Measured:
    """`scenario` at each connection count; with `bare_url`, B is measured just before each count too,
    and with `against`, the same scenario on that service beside it (each service's CPU per request
    is taken with its throughput: unlike throughput, it hardly moves with the machine's load).

    The machine's speed drifts by tens of percent within minutes; B measured next to the scenario,
    at the same connection count, is what the scenario's ratio can honestly be compared with.
    """
    counts = scenario.connections or connections
    try:
        request = _prepared(base_url, scenario, tokens, counts)
        earlier = _prepared(against.base_url, scenario, against.tokens, counts) if against else None
        bare = BASELINE_POST if scenario.baseline == "echo" else BASELINE_GET
        results, baseline, previous, cpu, previous_cpu = {}, {}, {}, {}, {}
        for position, count in enumerate(counts):
            if bare_url is not None:
                baseline[count] = run_wrk(bare.request(bare_url, {}), connections=count, duration=duration)
            beside = f" (B beside it: {baseline[count].rps:,.0f} rps)" if count in baseline else ""
            # The two services take turns going first, so neither always meets the machine warmer.
            if earlier is not None and position % 2 == 1:
                previous[count], previous_cpu[count] = _timed(
                    f"{scenario.name} (--against)", earlier, count, duration, server=against
                )
            results[count], cpu[count] = _timed(scenario.name, request, count, duration, beside=beside, server=service)
            if earlier is not None and position % 2 == 0:
                previous[count], previous_cpu[count] = _timed(
                    f"{scenario.name} (--against)", earlier, count, duration, server=against
                )
    except (BenchError, HttpError, WrkError, OSError) as exc:
        _say(f"  {scenario.name}: NOT MEASURED: {exc}")
        return Measured(scenario=scenario, results={}, error=str(exc))
    return Measured(
        scenario=scenario,
        results=results,
        baseline=baseline,
        previous=previous,
        cpu_us={c: v for c, v in cpu.items() if v is not None},
        previous_cpu_us={c: v for c, v in previous_cpu.items() if v is not None},
    )


def _script_table(script: Path) -> tuple[str | None, str | None]:
    """A benchmark script's own table, or why it failed; (None, None) when it does not exist yet."""
    if not script.exists():
        return None, None
    _say(f"{script.stem.removeprefix('bench_')}: {script.name}")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=_ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        return None, f"{script.name} exited with {done.returncode}: {done.stderr.strip()[-500:]}"
    return done.stdout, None


class _Bench:
    """One run: what was asked on the command line, and the order things are measured in."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.only = set(args.only or [s.name for s in SCENARIOS] + list(_EXTRAS))
        self.scenarios = [s for s in SCENARIOS if s.name in self.only]
        self.connections: tuple[int, ...] = args.connections
        # B at every connection count some scenario is measured at.
        self.baseline_connections = tuple(
            sorted(set(self.connections).union(*(s.connections or () for s in self.scenarios)))
        )
        self.duration: int = args.duration
        self.scratch = scratch
        self.against: str | None = args.against
        self.workers = os.cpu_count() or 1

    def _bare(self, base_url: str, routes: Sequence[Scenario]) -> tuple[Measured, ...]:
        measured = tuple(
            _measure(base_url, route, {}, connections=self.baseline_connections, duration=self.duration)
            for route in routes
        )
        if failed := [m.error for m in measured if m.error]:
            raise BenchError(f"the baseline could not be measured: {failed[0]}")
        return measured

    def _service(self, bare_url: str) -> tuple[list[Measured], list[str]]:
        _say(f"service: consent serve, {self.workers} workers (B measured beside each scenario)")
        with contextlib.ExitStack() as stack:
            service = stack.enter_context(consent_service(workers=self.workers, scratch=self.scratch))
            earlier = None
            if self.against is not None:
                source = checkout(self.against, self.scratch / "against-source")
                _say(f"service at {self.against}: consent serve from {source}, {self.workers} workers")
                earlier = stack.enter_context(
                    consent_service(workers=self.workers, scratch=self.scratch / "against", source=source)
                )
            measured = [
                _measure(
                    service.base_url,
                    s,
                    service.tokens,
                    connections=self.connections,
                    duration=self.duration,
                    bare_url=bare_url,
                    service=service,
                    against=earlier,
                )
                for s in self.scenarios
            ]
            notes = [f"service log: {line}" for line in service.log_errors()]
            if earlier is not None:
                notes += [f"service log ({self.against}): {line}" for line in earlier.log_errors()]
            return measured, notes

    def _withdrawal(self) -> Withdrawal:
        _say(f"withdrawal visibility: consent serve ({self.workers} workers) and a second instance (1 worker)")
        found = measure_withdrawal(self.scratch / "withdrawal", workers=self.workers, rounds=_WITHDRAWAL_ROUNDS)
        if found.error:
            _say(f"  withdrawal: NOT MEASURED: {found.error}")
        else:
            _say(
                f"  withdrawal: {found.rounds} rounds, p50 {found.p50_ms:.2f} ms, p99 {found.p99_ms:.2f} ms, "
                f"max {found.max_ms:.2f} ms (one check round trip included: p50 {found.check_p50_ms:.2f} ms)"
            )
        return found

    def _request_list(self) -> tuple[str | None, str | None]:
        """The request queue's table, or why it could not be measured."""
        _say(f"request list: consent serve ({self.workers} workers), {REQUESTS:,} requests seeded")
        try:
            table = measure_request_list(self.scratch / "request-list", workers=self.workers)
        except (BenchError, HttpError, OSError) as exc:
            detail = "; ".join([str(exc), *getattr(exc, "__notes__", ())])
            _say(f"  request list: NOT MEASURED: {detail}")
            return None, f"request list: {detail}"
        _say(table)
        return table, None

    def _instances(self) -> tuple[str | None, str | None]:
        """The table of checks over 1, 2 and 4 processes on one database, or why it could not be measured."""
        _say("instances: 1, 2 and 4 processes of consent serve --workers 1 on one database")
        try:
            table = measure_instances(self.scratch / "instances", duration=self.duration)
        except (BenchError, HttpError, OSError, WrkError) as exc:
            detail = "; ".join([str(exc), *getattr(exc, "__notes__", ())])
            _say(f"  instances: NOT MEASURED: {detail}")
            return None, f"instances: {detail}"
        _say(table)
        return table, None

    def _flood(self) -> Flood:
        _say(f"flood: consent serve ({self.workers} workers) behind a trusted proxy, default rate limits")
        found = measure_flood(self.scratch / "flood", workers=self.workers, duration=self.duration)
        for line in found.lines():
            _say(f"  {line}")
        return found

    def _tables(self, notes: list[str]) -> tuple[dict[str, str], list[str]]:
        """The extras printed as tables of their own, by title; what could not be measured goes to
        `notes`, and the in-process scripts' failures are returned."""
        tables: dict[str, str] = {}
        errors: list[str] = []
        measured = {
            "request-list": (
                f"Request list over {REQUESTS:,} requests, filtered by state and due date",
                self._request_list,
            ),
            "instances": ("Many processes on one database: cached checks as processes are added", self._instances),
        }
        for name, (title, measure) in measured.items():
            if name in self.only:
                table, error = measure()
                if table is not None:
                    tables[title] = table
                if error is not None:
                    notes.append(error)
        for name, (title, script) in SCRIPTS.items():
            table, error = _script_table(script) if name in self.only else (None, None)
            if table:
                tables[f"{title} (tests/bench/{script.name})"] = table
            if error:
                errors.append(f"{name}: {error}")
        return tables, errors

    def run(self) -> Report:
        load_average = os.getloadavg()[0]
        baselines: dict[str, tuple[Measured, ...]] = {}
        if "uvicorn" in self.only:
            _say(f"baseline: bare Litestar under uvicorn, {self.workers} workers")
            with baseline_server("uvicorn", workers=self.workers, scratch=self.scratch) as bare:
                baselines["uvicorn"] = self._bare(bare.base_url, (BASELINE_GET, BASELINE_POST))
        measured: list[Measured] = []
        notes: list[str] = []
        recheck: tuple[Measured, ...] = ()
        if baselines or self.scenarios:
            # granian last, and kept running: B is measured before the service, beside each scenario
            # and again after the service, so a change in the machine's speed during the run shows.
            _say(f"baseline: bare Litestar under granian, {self.workers} workers")
            with baseline_server("granian", workers=self.workers, scratch=self.scratch) as bare:
                baselines["granian"] = self._bare(bare.base_url, (BASELINE_GET, BASELINE_POST))
                if self.scenarios:
                    measured, notes = self._service(bare.base_url)
                    _say("baseline again: bare Litestar under granian")
                    used = {s.baseline for s in self.scenarios}
                    recheck = self._bare(
                        bare.base_url, [b for b in (BASELINE_GET, BASELINE_POST) if b.baseline in used]
                    )
        withdrawal = self._withdrawal() if "withdrawal" in self.only else None
        if withdrawal is not None:
            notes += list(withdrawal.notes)
            if withdrawal.error:
                notes.append(f"withdrawal: {withdrawal.error}")
        flood = self._flood() if "flood" in self.only else None
        if flood is not None and flood.error:
            notes.append(f"flood: {flood.error}")
        tables, errors = self._tables(notes)
        return Report(
            machine=describe_machine(),
            load_average=load_average,
            workers=self.workers,
            duration=self.duration,
            baselines=dict(sorted(baselines.items())),  # granian (B) first
            recheck=recheck,
            scenarios=measured,
            tables=tables,
            withdrawal=withdrawal,
            flood=flood,
            notes=notes + errors,
            against=self.against,
            failed=bool(notes or errors),
        )


def _failed(report: Report) -> bool:
    everything = [*report.scenarios, *(m for pair in report.baselines.values() for m in pair)]
    return report.failed or any(m.error or any(r.errors for r in m.results.values()) for m in everything)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="consent-growth-") as scratch:
            print(run_growth(Path(scratch), args.scale_max))
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="consent-bench-") as scratch:
            report = _Bench(args, Path(scratch)).run()
    except BenchError as exc:
        _say(f"bench: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("bench: interrupted; servers stopped")
        return 130
    print(render_markdown(report) if args.markdown else render_text(report))
    return 1 if _failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
