"""The machine a run happened on, and the run's figures as text or as Markdown.

Markdown output (`--markdown`) is meant to be pasted into docs/performance.md
as is: the machine line, the baseline table, the scenario table.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

import msgspec

from tests.bench._baseline_app import uvicorn_http
from tests.bench._flood import Flood
from tests.bench._scenarios import Scenario
from tests.bench._withdrawal import TARGET_P99_MS, Withdrawal
from tests.bench._wrk import WrkResult, wrk_version

__all__ = ["Machine", "Measured", "Report", "describe_machine", "render_markdown", "render_text"]

_PACKAGES = ("granian", "uvicorn", "litestar", "msgspec", "uvloop", "asyncpg")


class Machine(msgspec.Struct, kw_only=True, frozen=True):
    cpu: str
    cores: int
    memory_gib: float
    system: str
    python: str
    versions: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        versions = ", ".join(f"{name} {version}" for name, version in self.versions)
        return (
            f"{self.cpu}, {self.cores} cores, {self.memory_gib:.1f} GiB RAM, {self.system}, "
            f"Python {self.python}; {versions}"
        )


class Measured(msgspec.Struct, kw_only=True, frozen=True):
    """A scenario's figures by connection count, or why it could not be measured."""

    scenario: Scenario
    results: dict[int, WrkResult]
    error: str | None = None
    baseline: dict[int, WrkResult] = {}  # B measured just before the scenario, by connection count
    previous: dict[int, WrkResult] = {}  # the service at `--against REV`, measured beside it
    cpu_us: dict[int, float] = {}  # the service's CPU time per request (its process group), microseconds
    previous_cpu_us: dict[int, float] = {}  # the same for the service at `--against REV`


class Report(msgspec.Struct, kw_only=True, frozen=True):
    machine: Machine
    load_average: float  # the machine's 1-minute load when the run started
    workers: int
    duration: int
    baselines: dict[str, tuple[Measured, ...]]  # by server: (GET, echo)
    recheck: tuple[Measured, ...]  # B measured again after the service, to show drift
    scenarios: list[Measured]
    tables: dict[str, str] = {}  # by title, tables printed as they come (request list, crypto and export scripts)
    withdrawal: Withdrawal | None = None  # visibility of a withdrawal to a second instance
    flood: Flood | None = None  # a flood from one client network beside other clients
    notes: list[str] = []  # errors seen on the way (service log, crypto script, request list)
    failed: bool = False  # a note is an error
    against: str | None = None  # the git revision the service was also measured at

    def baseline_of(self, measured: Measured) -> dict[int, WrkResult]:
        """B for a measured scenario by connection count.

        B measured just before the scenario at the same count where there is one (the machine's
        speed drifts within minutes); otherwise the mean of B before and after the service.
        """
        get, echo = self.baselines["granian"]
        before = echo if measured.scenario.baseline == "echo" else get
        after = next((m.results for m in self.recheck if m.scenario.name == before.scenario.name), {})
        overall = {c: _mean(r, after[c]) if c in after else r for c, r in before.results.items()}
        return overall | measured.baseline


def _mean(a: WrkResult, b: WrkResult) -> WrkResult:
    return WrkResult(
        rps=(a.rps + b.rps) / 2,
        p50_ms=(a.p50_ms + b.p50_ms) / 2,
        p99_ms=(a.p99_ms + b.p99_ms) / 2,
        requests=a.requests + b.requests,
        non_2xx=a.non_2xx + b.non_2xx,
        socket_errors=a.socket_errors + b.socket_errors,
    )


def _cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def _postgres_version() -> str:
    if os.environ.get("DATABASE_URL"):
        return "external (DATABASE_URL)"
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    binary = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "postgres"
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.rsplit(" ", 1)[-1].strip() + " (embedded)" if done.returncode == 0 else "unknown"


def describe_machine() -> Machine:
    versions = [(name, importlib.metadata.version(name)) for name in _PACKAGES]
    versions[1] = ("uvicorn", f"{versions[1][1]} ({uvicorn_http()})")
    versions += [("PostgreSQL", _postgres_version()), ("wrk", wrk_version())]
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        versions=tuple(versions),
    )


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _rps(value: float) -> str:
    return f"{value:,.0f}"


def _verdict(scenario: Scenario, result: WrkResult, baseline: WrkResult, connections: int) -> str:
    if result.errors:
        return f"ERROR: {result.non_2xx} non-2xx, {result.socket_errors} socket errors"
    targets = scenario.targets_at(connections)
    if not targets:
        return "-"
    misses = [miss for target in targets for miss in target.misses(result, baseline, items=scenario.items)]
    return "PASS" if not misses else "MISS (" + "; ".join(misses) + ")"


def _scenario_rows(report: Report, measured: Measured) -> list[list[str]]:
    scenario = measured.scenario
    baseline = report.baseline_of(measured)
    rows = []
    for connections, result in sorted(measured.results.items()):
        b = baseline[connections]
        rows.append(
            [
                scenario.name,
                str(connections),
                _rps(result.rps * scenario.items),
                _ms(result.p50_ms),
                _ms(result.p99_ms),
                _rps(b.rps),
                _ms(b.p50_ms),
                _ms(b.p99_ms),
                f"{result.rps * scenario.items / b.rps:.2f}",
                "; ".join(t.describe() for t in scenario.targets_at(connections)) or "-",
                _verdict(scenario, result, b, connections),
            ]
        )
    return rows


_SCENARIO_HEADERS = ["scenario", "conns", "rps", "p50 ms", "p99 ms", "B rps", "B p50", "B p99", "ratio", "target", ""]
_BASELINE_HEADERS = ["server", "request", "conns", "rps", "p50 ms", "p99 ms"]


def _baseline_rows(report: Report) -> list[list[str]]:
    runs = [(server, measured) for server, routes in report.baselines.items() for measured in routes]
    runs += [("granian, after", measured) for measured in report.recheck]
    return [
        [server, f"{m.scenario.method} {m.scenario.path}", str(c), _rps(r.rps), _ms(r.p50_ms), _ms(r.p99_ms)]
        for server, m in runs
        for c, r in sorted(m.results.items())
    ]


def _server_comparison(report: Report) -> str | None:
    """granian's throughput over uvicorn's, per request and connection count."""
    if {"granian", "uvicorn"} - report.baselines.keys():
        return None
    parts = []
    for granian, uvicorn in zip(report.baselines["granian"], report.baselines["uvicorn"], strict=True):
        ratios = ", ".join(
            f"{granian.results[c].rps / uvicorn.results[c].rps:.2f}x at {c}"
            for c in sorted(granian.results)
            if c in uvicorn.results
        )
        parts.append(f"{granian.scenario.method} {granian.scenario.path}: {ratios}")
    return "granian / uvicorn throughput: " + "; ".join(parts)


_DRIFT_WARNING = 0.10


def _drift(report: Report) -> str | None:
    """How B changed between before and after the service: the run's own noise figure."""
    if not report.recheck:
        return None
    before = {m.scenario.name: m for m in report.baselines["granian"]}
    changes = [
        (f"{again.scenario.method} {again.scenario.path} at {connections}", result.rps / first.rps - 1)
        for again in report.recheck
        for connections, result in sorted(again.results.items())
        if (first := before[again.scenario.name].results.get(connections))
    ]
    if not changes:
        return None
    line = "B after the service vs before: " + ", ".join(f"{what}: {change:+.0%}" for what, change in changes)
    if max(abs(change) for _, change in changes) > _DRIFT_WARNING:
        line += f" (over {_DRIFT_WARNING:.0%}: the machine's speed changed during the run; ratios are uncertain)"
    return line


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: set[int]) -> str:
    """Columns padded to their widest cell: those in `left` (names, text) left-aligned, figures right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  " + "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)])


def _scenario_notes(report: Report) -> list[str]:
    notes = []
    for measured in report.scenarios:
        scenario = measured.scenario
        summary = f" ({scenario.summary})" if scenario.summary else ""
        notes.append(f"- {scenario.title}{summary}")
        if measured.error:
            notes.append(f"  NOT MEASURED: {measured.error}")
    return notes


def _header(report: Report) -> list[str]:
    busy = report.load_average > 0.5
    return [
        f"Machine: {report.machine.describe()}",
        f"Load average when the run started: {report.load_average:.2f}"
        + (" (other processes were using the CPU: compare ratios rather than absolute figures)" if busy else ""),
        f"Each server: {report.workers} workers; wrk -t1, {report.duration} s per run, over 127.0.0.1. "
        "B = the bare Litestar GET under granian (or its JSON echo where a scenario says so), "
        "measured just before the scenario at the same connection count (B rps, B p50, B p99); "
        "ratio = throughput / B.",
    ]


_AGAINST_HEADERS = [
    "scenario",
    "conns",
    "rps",
    "rps before",
    "change",
    "p99 ms",
    "p99 before",
    "CPU µs/req",
    "before",
    "CPU change",
]


def _cpu_cells(now: float | None, before: float | None) -> list[str]:
    if now is None or before is None:
        return ["-", "-", "-"]
    return [f"{now:.0f}", f"{before:.0f}", f"{now / before - 1:+.1%}"]


def _against_rows(report: Report) -> list[list[str]]:
    """This checkout beside the service at `--against REV`, per scenario and connection count."""
    return [
        [
            m.scenario.name,
            str(count),
            _rps(result.rps * m.scenario.items),
            _rps(before.rps * m.scenario.items),
            f"{result.rps / before.rps - 1:+.1%}",
            _ms(result.p99_ms),
            _ms(before.p99_ms),
            *_cpu_cells(m.cpu_us.get(count), m.previous_cpu_us.get(count)),
        ]
        for m in report.scenarios
        for count, result in sorted(m.results.items())
        if (before := m.previous.get(count)) is not None
    ]


_WITHDRAWAL_HEADERS = ["rounds", "p50 ms", "p99 ms", "max ms", "target", "result"]


def _withdrawal_rows(withdrawal: Withdrawal) -> list[list[str]]:
    return [
        [
            str(withdrawal.rounds),
            _ms(withdrawal.p50_ms),
            _ms(withdrawal.p99_ms),
            _ms(withdrawal.max_ms),
            f"p99 ≤ {TARGET_P99_MS:g} ms",
            withdrawal.verdict,
        ]
    ]


def _withdrawal_notes(withdrawal: Withdrawal) -> list[str]:
    notes = [
        "Instance A: `consent serve` as above; instance B: a second `consent serve --workers 1` on the same "
        "database and key files. Each round records a grant through A, checks it through B until B has it "
        "cached, withdraws it through A (POST /v1/consents, action withdraw) and checks through B in a tight "
        "loop over one keep-alive connection.",
        "Figure: from A's answer to the withdrawal to the end of the first check through B that answers "
        "allowed: false. It includes that check's round trip, so it is an upper bound "
        f"(that check alone: p50 {withdrawal.denying_check_p50_ms:.2f} ms; a cached check through B: "
        f"p50 {withdrawal.check_p50_ms:.2f} ms, p99 {withdrawal.check_p99_ms:.2f} ms); "
        "the commit happens just before A answers, and that part of A's response is not in it.",
    ]
    if withdrawal.rounds:
        notes.append(
            f"The first check through B after the withdrawal already denied in {withdrawal.first_check} "
            f"of {withdrawal.rounds} rounds."
        )
    if withdrawal.error:
        notes.append(f"NOT MEASURED: {withdrawal.error}")
    return notes


def render_text(report: Report) -> str:
    lines = [*_header(report), ""]
    if report.baselines:
        lines += ["Baseline (bare Litestar):", _text_table(_BASELINE_HEADERS, _baseline_rows(report), left={0, 1})]
        lines += ["  " + line for line in (_server_comparison(report), _drift(report)) if line]
        lines.append("")
    if report.scenarios:
        rows = [row for measured in report.scenarios for row in _scenario_rows(report, measured)]
        lines += ["Scenarios:", *_scenario_notes(report), _text_table(_SCENARIO_HEADERS, rows, left={0, 9, 10}), ""]
    if against := _against_rows(report):
        lines += [f"Against {report.against} (measured right after each row above):"]
        lines += [_text_table(_AGAINST_HEADERS, against, left={0}), ""]
    if report.withdrawal:
        table = _text_table(_WITHDRAWAL_HEADERS, _withdrawal_rows(report.withdrawal), left={4, 5})
        notes = [f"  {note}" for note in _withdrawal_notes(report.withdrawal)]
        lines += ["Withdrawal visibility across instances:", table, *notes, ""]
    if report.flood:
        lines += [
            "A flood from one client network (tests/bench/_flood.py):",
            *(f"  {x}" for x in report.flood.lines()),
            "",
        ]
    for title, table in report.tables.items():
        lines += [f"{title}:", table.rstrip(), ""]
    if report.notes:
        lines += ["Problems:", *(f"  {note}" for note in report.notes), ""]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    lines = [*(f"- {line}" for line in _header(report)), ""]
    if report.baselines:
        lines += ["#### Baseline: bare Litestar", "", _markdown_table(_BASELINE_HEADERS, _baseline_rows(report)), ""]
        lines += [f"- {line}." for line in (_server_comparison(report), _drift(report)) if line]
        lines.append("")
    if report.scenarios:
        rows = [row for measured in report.scenarios for row in _scenario_rows(report, measured)]
        headers = [*_SCENARIO_HEADERS[:-1], "result"]
        lines += ["#### Service", "", *_scenario_notes(report), "", _markdown_table(headers, rows), ""]
    if against := _against_rows(report):
        lines += [f"#### Against `{report.against}` (measured right after each row above)", ""]
        lines += [_markdown_table(_AGAINST_HEADERS, against), ""]
    if report.withdrawal:
        table = _markdown_table(_WITHDRAWAL_HEADERS, _withdrawal_rows(report.withdrawal))
        notes = [f"- {note}" for note in _withdrawal_notes(report.withdrawal)]
        lines += ["#### Withdrawal visibility across instances", "", table, "", *notes, ""]
    if report.flood:
        lines += ["#### A flood from one client network", "", *(f"- {line}" for line in report.flood.lines()), ""]
    for title, table in report.tables.items():
        lines += [f"#### {title}", "", "```text", table.rstrip(), "```", ""]
    if report.notes:
        lines += ["#### Problems", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines)
