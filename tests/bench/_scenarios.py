"""What is measured: one `Scenario` per service endpoint, and the targets it is held to.

A new benchmark is one entry in `SCENARIOS`; for example, a consent check:

    Scenario(name="check-cached", method="POST", path="/v1/check", scope="check",
             body={"subject": {"user_id": "u-42"}, "purposes": ["personalisation"]},
             targets=(Target(rps=0.75), Target(p99_vs_b=1.5, connections=64), Target(p99_ms=2.5, connections=4))),

Every figure is compared with the bare-framework baseline B measured in the
same run: by default the GET route of `_baseline_app` returning a small JSON
body, which is the B of issue 5's targets (≈ 10,600 rps on 2 cores); a
scenario may choose its JSON echo instead (`baseline="echo"`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeAlias

import msgspec

from tests.bench._baseline_app import BODY, ECHO_PATH, JSON_PATH
from tests.bench._http import post_json
from tests.bench._wrk import WrkRequest, WrkResult

__all__ = [
    "BASELINE_GET",
    "BASELINE_POST",
    "BENCH_ORIGIN",
    "SCENARIOS",
    "Scenario",
    "Setup",
    "Target",
    "Tokens",
    "record_grant",
    "seed_known_devices",
]

# The allowed origin of the bench's `collect` key: send it as the `Origin` header.
BENCH_ORIGIN = "https://bench.example"

Tokens: TypeAlias = Mapping[str, str]
"""Bearer tokens by scope (`check`, `collect`, `dsr`, `admin`), created for this run."""

Setup: TypeAlias = Callable[[str, Tokens], Awaitable[None] | None]
"""Runs once before a scenario is measured, e.g. to seed data: `setup(base_url, tokens)`."""


class Target(msgspec.Struct, kw_only=True, frozen=True):
    """One bar a scenario must clear, relative to B from the same run (unset parts are not checked)."""

    rps: float | None = None  # throughput at least rps·B (items per second for batches)
    p99_vs_b: float | None = None  # p99 at most p99_vs_b times B's p99
    p99_ms: float | None = None  # p99 under this many milliseconds
    connections: int | None = None  # only at this connection count; None: at every one

    def applies(self, connections: int) -> bool:
        return self.connections is None or self.connections == connections

    def describe(self) -> str:
        parts = []
        if self.rps is not None:
            parts.append(f"≥ {self.rps:g}·B")
        if self.p99_vs_b is not None:
            parts.append(f"p99 ≤ {self.p99_vs_b:g}·B")
        if self.p99_ms is not None:
            parts.append(f"p99 < {self.p99_ms:g} ms")
        return ", ".join(parts)

    def misses(self, result: WrkResult, baseline: WrkResult, *, items: int = 1) -> list[str]:
        """What this target finds short in `result`: empty when it is met."""
        found = []
        ratio = result.rps * items / baseline.rps
        if self.rps is not None and ratio < self.rps:
            shown = f"{ratio:.2f}" if round(ratio, 2) < self.rps else f"{ratio:.3f}"  # never "0.75·B < 0.75·B"
            found.append(f"{shown}·B < {self.rps:g}·B")
        if self.p99_vs_b is not None and result.p99_ms > self.p99_vs_b * baseline.p99_ms:
            found.append(f"p99 {result.p99_ms / baseline.p99_ms:.1f}·B > {self.p99_vs_b:g}·B")
        if self.p99_ms is not None and result.p99_ms >= self.p99_ms:
            found.append(f"p99 {result.p99_ms:.2f} ≥ {self.p99_ms:g} ms")
        return found


class Scenario(msgspec.Struct, kw_only=True, frozen=True):
    """One request to repeat under load, and what it must achieve.

    `body` is any JSON value; every "${n}" in it becomes a number unique to the
    request, so each request can name a new subject. `scope` adds
    `Authorization: Bearer <a key of that scope>`; a `collect` key allows
    `BENCH_ORIGIN` only. `items` counts the decisions one request carries
    (batches), so throughput is compared as items per second against B's
    requests per second. `baseline` names B: the bare GET (the targets of
    issue 5 are relative to it) or the bare JSON echo (what the framework
    alone does with a body).
    """

    name: str
    path: str
    method: str = "GET"
    summary: str = ""
    scope: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    expect: int = 200
    items: int = 1
    baseline: Literal["get", "echo"] = "get"
    connections: tuple[int, ...] | None = None  # None: the runner's --connections
    targets: tuple[Target, ...] = ()
    setup: Setup | None = None

    @property
    def title(self) -> str:
        auth = f" ({self.scope} key)" if self.scope else ""
        batch = f", {self.items} items per request" if self.items > 1 else ""
        versus = ", B = bare JSON echo" if self.baseline == "echo" else ""
        return f"{self.name}: {self.method} {self.path}{auth}{batch}{versus}"

    def request(self, base_url: str, tokens: Tokens) -> WrkRequest:
        headers = list(self.headers)
        if self.scope is not None:
            headers.insert(0, ("Authorization", f"Bearer {tokens[self.scope]}"))
        body = None
        if self.body is not None:
            headers.append(("Content-Type", "application/json"))
            body = msgspec.json.encode(self.body)
        return WrkRequest(url=base_url + self.path, method=self.method, headers=tuple(headers), body=body)

    def targets_at(self, connections: int) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.applies(connections))


BASELINE_GET = Scenario(name="bare GET", path=JSON_PATH, summary='returns {"status":"ok"}')
BASELINE_POST = Scenario(
    name="bare POST",
    method="POST",
    path=ECHO_PATH,
    body=BODY,
    baseline="echo",
    summary="decodes a JSON body into a Struct, returns it",
)

_SEEDED = 100
_BATCH_PURPOSES = ("analytics", "personalisation", "marketing_email", "advertising")
_RECORD = {
    "property": "bench-shop",
    "jurisdiction": "gdpr",
    "language": "en",
    "action": "save_choices",
    "decisions": [
        {"purpose": "analytics", "status": "granted", "notice_version": 2},
        {"purpose": "marketing_email", "status": "denied", "notice_version": 1},
    ],
}


def seed_known_devices(base_url: str, tokens: Tokens, count: int) -> None:
    """Record a choice for `bench-known-0` .. `bench-known-{count-1}` (once per run is enough)."""
    for i in range(count):
        record_grant(base_url, tokens["collect"], f"bench-known-device-{i:0>8}")


def record_grant(base_url: str, collect_token: str, device_id: str) -> None:
    """Record, through a publishable key, a banner's choice for `device_id` (analytics granted)."""
    body = _RECORD | {"subject": {"device_id": device_id}}
    post_json(base_url, "/v1/consents", collect_token, body, headers=(("Origin", BENCH_ORIGIN),))


# What the cached consent check must reach (issue 5).
_HOT_PATH = (Target(rps=0.75), Target(p99_vs_b=1.5, connections=64), Target(p99_ms=2.5, connections=4))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="health",
        path="/health",
        summary="liveness: our middleware and Litestar, no auth, no database",
        targets=(Target(rps=0.75),),
    ),
    Scenario(
        name="whoami",
        path="/v1/whoami",
        scope="check",
        # No target: not a hot path. It shows what a guarded Litestar route costs, against the
        # express lane the check routes take (consent/api/express.py).
        summary="a guarded Litestar route: bearer auth through the per-process key cache, no database",
    ),
    Scenario(
        name="check-cached",
        method="POST",
        path="/v1/check",
        scope="check",
        body={"subject": {"device_id": "bench-known-device-00000000"}, "purposes": ["analytics"]},
        summary="one known subject: key cache, identifier cache, state cache, the decision engine",
        targets=_HOT_PATH,
        setup=lambda base_url, tokens: seed_known_devices(base_url, tokens, 1),
    ),
    Scenario(
        name="check-uncached",
        method="POST",
        path="/v1/check",
        scope="check",
        body={"subject": {"device_id": "bench-unknown-device-${n}"}, "purposes": ["analytics"]},
        summary="a new device every request: blind index lookup and state read in PostgreSQL",
        targets=(Target(rps=0.33),),
    ),
    Scenario(
        name="check-batch",
        method="POST",
        path="/v1/check/batch",
        scope="check",
        body={
            "checks": [
                {
                    "subject": {"device_id": f"bench-known-device-{i % _SEEDED:0>8}"},
                    "purposes": [_BATCH_PURPOSES[i % 4]],
                }
                for i in range(1000)
            ]
        },
        items=1000,
        summary=f"1,000 (subject, purpose) pairs over {_SEEDED} known subjects",
        connections=(4,),
        targets=(Target(rps=30), Target(p99_ms=20)),
        setup=lambda base_url, tokens: seed_known_devices(base_url, tokens, _SEEDED),
    ),
    Scenario(
        name="record",
        method="POST",
        path="/v1/consents",
        scope="collect",
        headers=(("Origin", BENCH_ORIGIN),),
        body=_RECORD | {"subject": {"device_id": "bench-new-device-${n}"}},
        expect=201,
        summary="a new visitor's choice: subject and data key created, events, state, audit, receipt, commit",
        # Issue 13: a POST is compared with a POST (the GET baseline moved 2x between two granian
        # releases while the service did not). Throughput is the bar under load (64 connections);
        # with 4 clients a write is latency-bound.
        baseline="echo",
        targets=(Target(rps=0.33, connections=64), Target(p99_ms=65, connections=64), Target(p99_ms=15, connections=4)),
    ),
    Scenario(
        name="request-create",
        method="POST",
        path="/v1/requests",
        scope="dsr",
        body={
            "type": "access",
            "subject": {"email": "bench-${n}@example.com"},
            "jurisdiction": "gdpr",
            "verification": "trusted",
        },
        expect=201,
        baseline="echo",
        summary="a new person's access request: subject and data key created, deadlines, request row, "
        "its transitions audited, commit",
        connections=(16,),
        targets=(Target(p99_ms=20),),  # issue 11: p99 under 20 ms at 16 connections
    ),
)
