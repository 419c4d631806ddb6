"""Many service processes on one PostgreSQL: check throughput as processes are added (issue 14).

"Two and four service processes (each with its workers) on one PostgreSQL, behind nothing but
different ports: the benchmark shows check throughput scaling with processes until the cores run
out, writes staying correct, caches consistent." Four `consent serve --workers 1` run on one
database (the first's embedded server, as `_servers.consent_service` starts it; the others attach to
it). For 1, 2 and 4 of them, one wrk per process drives cached checks of a known subject for the same
time (32 connections in all, split evenly) and the throughputs are added up. Then each process records
a grant for a device of its own, which every other process must answer allowed, and a withdrawal
recorded through the first process is polled through each other one until it answers denied: the
worst time of those rounds is printed (the withdrawal benchmark measures the same between two
processes, with more rounds). That jobs run once across instances is shown by
`tests/faults/test_two_instances.py` (each housekeeping period once), not here.

>>> print(measure_instances(Path("/tmp/x"), duration=5))  # a table, or raises BenchError
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from pathlib import Path

import msgspec

from tests.bench._http import post_json
from tests.bench._scenarios import record_grant, seed_known_devices
from tests.bench._servers import BenchError, ConsentService, attached_instance, consent_service
from tests.bench._withdrawal import Rounds
from tests.bench._wrk import WrkRequest, WrkResult, run_wrk

__all__ = ["measure_instances"]

PROCESSES = (1, 2, 4)
CONNECTIONS = 32
_ROUNDS = 10  # withdrawal rounds per other process
_CHECK = {"subject": {"device_id": "bench-known-device-00000000"}, "purposes": ["analytics"]}


def _check_request(service: ConsentService, token: str) -> WrkRequest:
    return WrkRequest(
        url=f"{service.base_url}/v1/check",
        method="POST",
        headers=(("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")),
        body=msgspec.json.encode(_CHECK),
    )


def _throughput(services: list[ConsentService], token: str, duration: int) -> list[WrkResult]:
    """One wrk per process, all at once, the connections split evenly."""
    each = CONNECTIONS // len(services)
    with concurrent.futures.ThreadPoolExecutor(len(services)) as pool:
        runs = [pool.submit(run_wrk, _check_request(s, token), connections=each, duration=duration) for s in services]
        return [run.result() for run in runs]


def _writes_seen_everywhere(services: list[ConsentService], collect: str, check: str) -> None:
    """A grant recorded through each process is allowed by every process (BenchError if not)."""
    for n, writer in enumerate(services):
        device = f"bench-instances-{n}-{id(services):x}"
        record_grant(writer.base_url, collect, device)
        for reader in services:
            query = {"subject": {"device_id": device}, "purposes": ["analytics"]}
            answer = post_json(reader.base_url, "/v1/check", check, query)
            if not answer["decisions"]["analytics"]["allowed"]:
                raise BenchError(f"a grant recorded through process {n + 1} was not allowed by another process")


def _withdrawal_worst_ms(services: list[ConsentService]) -> float:
    """Withdrawals through the first process, each polled through every other one: the worst ms."""
    worst = 0.0
    for other in services[1:]:
        session = Rounds(services[0], other)
        try:
            for number in range(_ROUNDS):
                found = session.one(number)
                if found is None:
                    raise BenchError("a withdrawal was not seen by another process within the patience")
                worst = max(worst, found.seconds * 1000)
        finally:
            session.close()
    return worst


def measure_instances(scratch: Path, *, duration: int) -> str:
    """Start four processes on one database, measure, stop them, and return the table."""
    scratch.mkdir(parents=True, exist_ok=True)
    lines = [f"  {'processes':>9}  {'checks/s':>10}  {'vs 1':>5}  {'p99 ms (worst)':>14}  errors"]
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(consent_service(workers=1, scratch=scratch))
        services = [first, *(stack.enter_context(attached_instance(first, scratch, n)) for n in "BCD")]
        seed_known_devices(first.base_url, first.tokens, 1)
        check = first.tokens["check"]
        for service in services:  # warm each process's caches
            run_wrk(_check_request(service, check), connections=2, duration=1)
        single = 0.0
        for count in PROCESSES:
            results = _throughput(services[:count], check, duration)
            total = sum(r.rps for r in results)
            single = single or total
            errors = sum(r.errors for r in results)
            worst = max(r.p99_ms for r in results)
            lines.append(f"  {count:>9}  {total:>10,.0f}  {total / single:>4.2f}x  {worst:>14.2f}  {errors}")
        _writes_seen_everywhere(services, first.tokens["collect"], check)
        withdrawal = _withdrawal_worst_ms(services)
        for service in services:
            if problems := service.log_errors():
                raise BenchError(f"a process logged errors: {problems[0]}")
    lines += [
        f"  Each process `consent serve --workers 1`, on one embedded PostgreSQL; cached checks, {CONNECTIONS}",
        f"  connections in all split over the processes, {duration} s. A grant recorded through each process",
        "  was allowed by all four; withdrawals through the first, polled through each other one",
        f"  ({_ROUNDS} rounds each), were seen within {withdrawal:.2f} ms at worst.",
    ]
    return "\n".join(lines)
