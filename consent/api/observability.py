"""Request ids, Prometheus metrics and the JSON-only body rule, in one thin ASGI layer.

One wrapper (:func:`observe`) does all three, around the whole service, so that
every route (the express lane's and Litestar's alike) passes it exactly once and
the hot path pays for a single extra call: it sets the request id (from
`X-Request-Id` when the caller sends a sane one), refuses bodies that are not
JSON with 415, adds the headers every answer carries, counts the request
and its latency per route template and status, and holds it as foreground
work while it runs (`consent.service.foreground`: background jobs yield to it).

Counting is a few dict operations per request; the totals are folded into the
Prometheus metrics (shared across workers through files) by `flush_metrics`,
once a second and before every scrape. Writing those files on every request
cost more than a whole bare request (measured: +25 µs).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from uuid import UUID

from litestar.enums import ScopeType
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from consent.api.problems import UNSUPPORTED_MEDIA_TYPE, send_problem
from consent.logs import request_id
from consent.service.checking.state_cache import StateCache
from consent.service.foreground import FOREGROUND

__all__ = [
    "POOL_IDLE",
    "POOL_SIZE",
    "HeadersFor",
    "count_identifier_checks",
    "count_request",
    "flush_metrics",
    "observe",
    "render_metrics",
    "run_metrics_flusher",
    "watch_state_cache",
]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUESTS = Counter("consent_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "consent_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"], buckets=_BUCKETS
)
IDENTIFIER_CHECKS = Counter(
    "consent_identifier_checks_total",
    "Checks answered for a subject named by an identifier, per API key id and identifier kind",
    ["key", "kind"],
)
POOL_SIZE = Gauge("consent_db_pool_connections", "Open database connections", multiprocess_mode="livesum")
POOL_IDLE = Gauge("consent_db_pool_idle_connections", "Idle database connections", multiprocess_mode="livesum")
STATE_CACHE_HITS = Counter("consent_state_cache_hits", "Consent state lookups answered from the process's cache")
STATE_CACHE_MISSES = Counter("consent_state_cache_misses", "Consent state lookups that read the database")
STATE_CACHE_ENTRIES = Gauge(
    "consent_state_cache_entries", "Subjects whose consent state is cached", multiprocess_mode="livesum"
)

# The method label takes one of these values: a client choosing the method must not choose label values.
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Unique without a random draw per request: a random process prefix and a counter.
_ID_PREFIX = os.urandom(6).hex()
_ids = itertools.count()

# (route, method, status) -> [count, latency sum, count per bucket..., count above the last bucket]
_pending: dict[tuple[str, str, int], list[float]] = {}
# (API key id, identifier kind) -> checks
_pending_identifier_checks: dict[tuple[UUID, str], int] = {}


def count_request(route: str, method: str, status: int, elapsed: float) -> None:
    key = (route, method if method in _METHODS else "other", status)
    totals = _pending.get(key)
    if totals is None:
        totals = _pending[key] = [0.0] * (len(_BUCKETS) + 3)
    totals[0] += 1
    totals[1] += elapsed
    totals[2 + bisect.bisect_left(_BUCKETS, elapsed)] += 1


def count_identifier_checks(key_id: UUID, kind: str, count: int) -> None:
    """`count` checks answered for key `key_id` that named their subject by an identifier of `kind`."""
    key = (key_id, kind)
    _pending_identifier_checks[key] = _pending_identifier_checks.get(key, 0) + count


# The state cache of each running runtime (one per worker; tests start many), with the hit and miss
# counts already folded into the counters.
_state_caches: weakref.WeakKeyDictionary[StateCache, tuple[int, int]] = weakref.WeakKeyDictionary()


def watch_state_cache(cache: StateCache) -> None:
    """Report `cache`'s hits, misses and size in the metrics from now on."""
    _state_caches[cache] = (cache.hits, cache.misses)


def _flush_state_caches() -> None:
    entries = 0
    for cache, (hits, misses) in list(_state_caches.items()):
        STATE_CACHE_HITS.inc(cache.hits - hits)
        STATE_CACHE_MISSES.inc(cache.misses - misses)
        _state_caches[cache] = (cache.hits, cache.misses)
        entries += len(cache)
    STATE_CACHE_ENTRIES.set(entries)


def flush_metrics() -> None:
    """Fold what this process counted since the last flush into the Prometheus metrics."""
    _flush_state_caches()
    identifier_checks = list(_pending_identifier_checks.items())
    _pending_identifier_checks.clear()
    for (key_id, kind), count in identifier_checks:
        IDENTIFIER_CHECKS.labels(str(key_id), kind).inc(count)
    pending = list(_pending.items())
    _pending.clear()
    for (route, method, status), totals in pending:
        REQUESTS.labels(route, method, str(status)).inc(totals[0])
        child = LATENCY.labels(route, method)
        # prometheus_client has no batch observe; these are the values `observe()` itself updates.
        child._sum.inc(totals[1])
        for bucket, value in zip(child._buckets, totals[2:], strict=False):
            if value:
                bucket.inc(value)


async def run_metrics_flusher(interval: float = 1.0) -> None:
    while True:
        await asyncio.sleep(interval)
        flush_metrics()


def _body_is_not_json(scope: HTTPScope) -> bool:
    if scope["method"] not in _BODY_METHODS:
        return False
    content_type = b""
    has_body = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
        elif (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            has_body = True
    return has_body and not (content_type == b"application/json" or content_type.endswith(b"+json"))


def _request_id_of(scope: HTTPScope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SANE_REQUEST_ID.match(value):
            return value
    return f"{_ID_PREFIX}{next(_ids):x}".encode()


HeadersFor = Callable[[HTTPScope], list[tuple[bytes, bytes]]]


def observe(app: ASGIApp, headers_for: HeadersFor, pause_refusal: Callable[[], Awaitable[None]]) -> ASGIApp:
    """Wrap the whole service: every HTTP answer, express or Litestar, error or not, passes here.

    `headers_for(scope)` is asked for further headers when the answer starts, after the route
    has run (so after authentication): the one place a header reaches every route. A 429, from
    whichever limit, waits `pause_refusal()` before it starts (`consent.service.rate_limits.RefusalPause`).
    """

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = _request_id_of(scope)
        token = request_id.set(rid.decode())
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == HTTP_429_TOO_MANY_REQUESTS:
                    await pause_refusal()
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid), *headers_for(scope)]
            await send(message)

        try:
            with FOREGROUND.serving():
                if _body_is_not_json(scope):
                    await send_problem(send_observed, UNSUPPORTED_MEDIA_TYPE)
                else:
                    await app(scope, receive, send_observed)
        finally:
            # Litestar's router names the route template; the express lane its exact path; "?" no route.
            count_request(scope.get("path_template", "?"), scope["method"], status, time.perf_counter() - started)
            request_id.reset(token)

    return observed


def render_metrics() -> bytes:
    """Prometheus text for this process, or for all workers when they share a metrics directory."""
    flush_metrics()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest())
