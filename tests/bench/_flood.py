"""A flood from one client network, beside other clients: held to its limit, the others barely slower.

Issue 13: "a flood from one client network is held to its limit while other
clients' p99 stays within 2x of the unflooded figure". One `consent serve`
with its default rate limits, told that 127.0.0.1 is a trusted proxy, so each
request's `X-Forwarded-For` names its client. Every request is what a banner
sends on each page view: `GET /v1/notices` with the site's publishable key and
its `Origin`.

- The others: a new /24 network with each request (`10.<a>.<b>.1`), measured
  alone first (the unflooded figure), then again while the flood runs.
- The flood: every request from 203.0.113.7, over more connections than the
  others, for the same time. Its admitted requests (the ones not answered 429)
  must not exceed the limit: the burst plus the rate over the time wrk ran.

>>> found = measure_flood(Path("/tmp/x"), workers=2, duration=5)
>>> found.admitted <= found.allowed, found.p99_ratio <= 2
(True, True)
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import msgspec

from consent.config import Settings
from tests.bench._scenarios import BENCH_ORIGIN
from tests.bench._servers import BenchError, consent_service
from tests.bench._wrk import WrkError, WrkRequest, WrkResult, run_wrk

__all__ = ["TARGET_P99_RATIO", "Flood", "measure_flood"]

TARGET_P99_RATIO = 2.0
FLOOD_CONNECTIONS = 16
OTHER_CONNECTIONS = 4
_DEFAULTS = Settings()
_PATH = "/v1/notices?jurisdiction=gdpr"
# 127.0.0.1 is a trusted proxy, so X-Forwarded-For names each client. The publishable key's own limit
# (1,000/s for the whole deployment by default) is out of reach: wrk's other clients alone send
# several thousand requests a second with that one key, where a real site's visitors, each on
# their own network, would share it; the key's limit has its own tests (tests/api/test_rate_limits.py).
_ENVIRONMENT = {
    "CONSENT_TRUSTED_PROXIES": "127.0.0.1",
    "CONSENT_RATE_LIMIT_KEY_PER_SECOND": "0",
    "CONSENT_RATE_LIMIT_KEY_BURST": "0",
}


class Flood(msgspec.Struct, kw_only=True, frozen=True):
    """The flood's and the other clients' figures, or why they were not measured."""

    duration: int = 0
    flood_requests: int = 0
    admitted: int = 0  # the flood's requests not answered 429
    allowed: float = 0.0  # the limit over the time wrk ran: burst + rate · seconds
    flood_rps: float = 0.0
    alone_rps: float = 0.0
    alone_p99_ms: float = 0.0
    flooded_rps: float = 0.0
    flooded_p99_ms: float = 0.0
    other_errors: int = 0
    error: str | None = None

    @property
    def p99_ratio(self) -> float:
        return self.flooded_p99_ms / self.alone_p99_ms if self.alone_p99_ms else float("inf")

    @property
    def verdict(self) -> str:
        held = self.admitted <= self.allowed and self.other_errors == 0
        return "PASS" if held and self.p99_ratio <= TARGET_P99_RATIO else "MISS"

    def lines(self) -> list[str]:
        if self.error:
            return [f"NOT MEASURED: {self.error}"]
        return [
            f"flood from 203.0.113.0/24 ({FLOOD_CONNECTIONS} connections, {self.duration} s): "
            f"{self.flood_requests:,} requests ({self.flood_rps:,.0f} rps), {self.admitted:,} admitted, "
            f"limit {self.allowed:,.0f} (burst {_DEFAULTS.rate_limit_network_burst:,} + "
            f"{_DEFAULTS.rate_limit_network_per_second:g}/s); the rest answered 429",
            f"other clients ({OTHER_CONNECTIONS} connections, a new /24 per request): alone "
            f"{self.alone_rps:,.0f} rps, p99 {self.alone_p99_ms:.2f} ms; beside the flood {self.flooded_rps:,.0f} rps, "
            f"p99 {self.flooded_p99_ms:.2f} ms ({self.p99_ratio:.2f}x, target ≤ {TARGET_P99_RATIO:g}x), "
            f"{self.other_errors} errors: {self.verdict}",
        ]


def _request(base_url: str, token: str, forwarded_for: str) -> WrkRequest:
    headers = (("Authorization", f"Bearer {token}"), ("Origin", BENCH_ORIGIN), ("X-Forwarded-For", forwarded_for))
    return WrkRequest(url=base_url + _PATH, headers=headers)


def _side_by_side(flood: WrkRequest, others: WrkRequest, duration: int) -> tuple[WrkResult, WrkResult]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        flooding = pool.submit(run_wrk, flood, connections=FLOOD_CONNECTIONS, duration=duration)
        measured = pool.submit(run_wrk, others, connections=OTHER_CONNECTIONS, duration=duration)
        return flooding.result(), measured.result()


def measure_flood(scratch: Path, *, workers: int, duration: int) -> Flood:
    """Start a service with the default network limit behind a trusted proxy, and measure (see the module)."""
    try:
        with consent_service(workers=workers, scratch=scratch, environment=_ENVIRONMENT) as service:
            token = service.tokens["collect"]
            others = _request(service.base_url, token, "10.${net}.1")
            run_wrk(others, connections=OTHER_CONNECTIONS, duration=1)  # warm-up
            alone = run_wrk(others, connections=OTHER_CONNECTIONS, duration=duration)
            flood, beside = _side_by_side(_request(service.base_url, token, "203.0.113.7"), others, duration)
    except (BenchError, WrkError, OSError) as exc:
        return Flood(error=str(exc))
    return Flood(
        duration=duration,
        flood_requests=flood.requests,
        admitted=flood.requests - flood.non_2xx,
        # Over the time wrk actually ran (a little over `duration`): its requests over its rate.
        allowed=_DEFAULTS.rate_limit_network_burst
        + _DEFAULTS.rate_limit_network_per_second * (flood.requests / flood.rps if flood.rps else duration),
        flood_rps=flood.rps,
        alone_rps=alone.rps,
        alone_p99_ms=alone.p99_ms,
        flooded_rps=beside.rps,
        flooded_p99_ms=beside.p99_ms,
        other_errors=beside.errors + alone.errors,
    )
