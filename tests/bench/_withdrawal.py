"""Withdrawal visibility across instances: how soon a second instance's check stops allowing.

Issue 5: "a withdrawal visible to a second instance's check within 10 ms (p99)
of its commit". Instance A is `consent serve` as `_servers.consent_service`
starts it (embedded PostgreSQL under a throw-away `CONSENT_HOME`, or
`DATABASE_URL`); instance B is a second `consent serve --no-demo --workers 1`
with the same `CONSENT_HOME` (so the same development key files) and no
`DATABASE_URL` of its own, so it attaches to A's embedded server.

Each round: record a grant for a new device through A (collect key, `Origin`),
check it through B until B allows it and once more (B now answers from its
cache), withdraw it through A (`POST /v1/consents`, action `withdraw`), and
from the moment A's answer has been read, check through B in a tight loop over
one keep-alive connection until B answers `allowed: false`. The figure is the
time to the end of that check: an upper bound by one check round trip
(B's check round trip is measured and printed beside it). It starts when A's
answer arrives, just after the commit, so the commit-to-answer part of A's
response is not in it.

>>> result = measure_withdrawal(Path("/tmp/x"), workers=2, rounds=200)
>>> result.p99_ms, result.verdict
(2.9, 'PASS')
"""

from __future__ import annotations

import http.client
import math
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from tests.bench._http import HttpError
from tests.bench._scenarios import BENCH_ORIGIN
from tests.bench._servers import BenchError, ConsentService, attached_instance, consent_service

__all__ = ["TARGET_P99_MS", "Rounds", "Withdrawal", "measure_withdrawal"]

TARGET_P99_MS = 10.0
_WARMUP_ROUNDS = 10
_PATIENCE = 2.0  # seconds a round waits for B to stop allowing before it counts as not seen
_SETTLE = 0.005  # seconds between B's first allowing check and the one that leaves the grant cached
_ROUND_TRIPS = 500  # cached checks timed on B, for the round trip the figures include
_PURPOSE = "analytics"
_RECORD = {"property": "bench-shop", "jurisdiction": "gdpr", "language": "en"}


class Withdrawal(msgspec.Struct, kw_only=True, frozen=True):
    """The rounds' figures (milliseconds from A's answer to B's first `allowed: false`), or why not measured."""

    rounds: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    first_check: int = 0  # rounds where the first check on B after the withdrawal already denied
    denying_check_p50_ms: float = 0.0  # the round trip of B's first denying check alone
    check_p50_ms: float = 0.0  # one cached check through B, round trip
    check_p99_ms: float = 0.0
    not_seen: int = 0  # rounds where B still allowed after _PATIENCE
    error: str | None = None
    notes: tuple[str, ...] = ()  # errors the instances logged

    @property
    def verdict(self) -> str:
        if self.error or not self.rounds:
            return "NOT MEASURED"
        if self.not_seen:
            return f"MISS ({self.not_seen} withdrawals not seen by B within {_PATIENCE:g} s)"
        if self.p99_ms > TARGET_P99_MS:
            return f"MISS (p99 {self.p99_ms:.2f} > {TARGET_P99_MS:g} ms)"
        return "PASS"


def _percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class _Decision(msgspec.Struct):
    allowed: bool


class _Answer(msgspec.Struct):
    decisions: dict[str, _Decision]


class _Round(msgspec.Struct, frozen=True):
    seconds: float  # from A's answer to the end of B's first denying check
    checks: int  # checks through B it took (0: B never denied)
    last_check: float  # the round trip of the denying check alone


class _Connection:
    """One keep-alive HTTP/1.1 connection to a loopback server, JSON in and out."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        port = int(base_url.rsplit(":", 1)[1])
        if not base_url.startswith("http://127.0.0.1:"):
            raise HttpError(f"benchmarks only talk to 127.0.0.1, not {base_url}")
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)
        self._headers = headers | {"Content-Type": "application/json"}

    def post(self, path: str, body: bytes, expect: int) -> bytes:
        self._conn.request("POST", path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        answer = response.read()
        if response.status != expect:
            raise HttpError(f"POST {path}: {response.status} {answer[:300].decode(errors='replace')}")
        return answer

    def close(self) -> None:
        self._conn.close()


class Rounds:
    """The connections of one run, and one round of grant, cache, withdraw, poll."""

    def __init__(self, a: ConsentService, b: ConsentService) -> None:
        origin = {"Origin": BENCH_ORIGIN}
        self.writer = _Connection(a.base_url, {"Authorization": f"Bearer {a.tokens['collect']}"} | origin)
        self.checker = _Connection(b.base_url, {"Authorization": f"Bearer {a.tokens['check']}"})
        self.run = secrets.token_hex(4)

    def close(self) -> None:
        self.writer.close()
        self.checker.close()

    def allowed(self, check: bytes) -> bool:
        answer = msgspec.json.decode(self.checker.post("/v1/check", check, 200), type=_Answer)
        return answer.decisions[_PURPOSE].allowed

    def _record(self, device: str, action: str, status: str) -> None:
        decision = {"purpose": _PURPOSE, "status": status, "notice_version": 2}
        body = _RECORD | {"subject": {"device_id": device}, "action": action, "decisions": [decision]}
        self.writer.post("/v1/consents", msgspec.json.encode(body), 201)

    def one(self, number: int) -> _Round | None:
        """Seconds from A's answer to B's first denial, and the checks it took; None if B never denied."""
        device = f"bench-withdraw-{self.run}-{number}"
        check = msgspec.json.encode({"subject": {"device_id": device}, "purposes": [_PURPOSE]})
        self._record(device, "save_choices", "granted")
        deadline = time.monotonic() + _PATIENCE
        while not self.allowed(check):
            if time.monotonic() > deadline:
                raise BenchError(f"instance B did not see the grant of {device} within {_PATIENCE:g} s")
        # Let the grant's own notification reach B (it would drop the entry), then read once more:
        # B now answers from its cache, and the withdrawal must take the grant out of it.
        time.sleep(_SETTLE)
        if not self.allowed(check):
            raise BenchError(f"instance B allowed {device}, then denied it before the withdrawal")
        self._record(device, "withdraw", "withdrawn")
        committed = time.perf_counter()
        checks = 0
        while (sent := time.perf_counter()) - committed < _PATIENCE:
            checks += 1
            if not self.allowed(check):
                denied = time.perf_counter()
                return _Round(seconds=denied - committed, checks=checks, last_check=denied - sent)
        return None

    def check_round_trips(self) -> list[float]:
        """Cached checks through B (the last round's device, now denied and cached), one at a time."""
        check = msgspec.json.encode({"subject": {"device_id": f"bench-withdraw-{self.run}-0"}, "purposes": [_PURPOSE]})
        times = []
        for _ in range(_ROUND_TRIPS):
            start = time.perf_counter()
            self.allowed(check)
            times.append(time.perf_counter() - start)
        return times


def _summary(samples: list[_Round], round_trips: list[float]) -> Withdrawal:
    """A round B never saw counts as _PATIENCE (0 checks): the figures are then lower bounds."""
    if not samples:
        return Withdrawal()
    ms = [sample.seconds * 1000 for sample in samples]
    return Withdrawal(
        rounds=len(samples),
        p50_ms=_percentile(ms, 0.50),
        p99_ms=_percentile(ms, 0.99),
        max_ms=max(ms),
        first_check=sum(1 for sample in samples if sample.checks == 1),
        denying_check_p50_ms=_percentile([sample.last_check * 1000 for sample in samples], 0.50),
        check_p50_ms=_percentile(round_trips, 0.50) * 1000 if round_trips else 0.0,
        check_p99_ms=_percentile(round_trips, 0.99) * 1000 if round_trips else 0.0,
        not_seen=sum(1 for sample in samples if sample.checks == 0),
    )


def measure_withdrawal(scratch: Path, *, workers: int, rounds: int = 200) -> Withdrawal:
    """Start A (`workers` workers) and B (one worker) on one database, run `rounds` rounds, stop both."""
    scratch.mkdir(parents=True, exist_ok=True)
    samples: list[_Round] = []
    round_trips: list[float] = []
    notes: list[str] = []
    try:
        with consent_service(workers=workers, scratch=scratch) as a, attached_instance(a, scratch, "B") as b:
            session = Rounds(a, b)
            try:
                for number in range(-_WARMUP_ROUNDS, rounds):
                    found = session.one(number)
                    if number >= 0:
                        samples.append(found or _Round(seconds=_PATIENCE, checks=0, last_check=0.0))
                round_trips = session.check_round_trips()
            finally:
                session.close()
            notes = [f"instance A log: {line}" for line in a.log_errors()]
            notes += [f"instance B log: {line}" for line in b.log_errors()]
    except (BenchError, HttpError, OSError) as exc:
        detail = "; ".join([str(exc), *getattr(exc, "__notes__", ())])
        return msgspec.structs.replace(_summary(samples, round_trips), error=detail, notes=tuple(notes))
    return msgspec.structs.replace(_summary(samples, round_trips), notes=tuple(notes))
