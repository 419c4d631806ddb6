"""Request ids, Prometheus metrics and the JSON-only body rule, in one thin ASGI layer.

One middleware does all three so that the hot path pays for a single extra
call: it sets the request id (from `X-Request-Id` when the caller sends a sane
one), refuses bodies that are not JSON with 415, and records the request count
and latency per route template and status.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from consent.logs import request_id

__all__ = ["POOL_IDLE", "POOL_SIZE", "observe", "render_metrics"]

REQUESTS = Counter("consent_http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "consent_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
POOL_SIZE = Gauge("consent_db_pool_connections", "Open database connections", multiprocess_mode="livesum")
POOL_IDLE = Gauge("consent_db_pool_idle_connections", "Idle database connections", multiprocess_mode="livesum")

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNSUPPORTED = (
    b'{"type":"https://consent.dev/problems/unsupported-media-type","title":"Unsupported media type",'
    b'"status":415,"detail":"send the body as application/json","field":"content-type"}'
)
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _metric_children(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    key = (route, method, status)
    found = _children.get(key)
    if found is None:
        found = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
        _children[key] = found
    return found


def _json_body_refused(scope: HTTPScope) -> bool:
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


async def _send_415(send: Send, rid: bytes) -> None:
    headers = [(b"content-type", b"application/problem+json"), (b"x-request-id", rid)]
    await send({"type": "http.response.start", "status": 415, "headers": headers})
    await send({"type": "http.response.body", "body": _UNSUPPORTED, "more_body": False})


def observe(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = next((v for n, v in scope["headers"] if n == b"x-request-id"), b"")
        if not _SANE_REQUEST_ID.match(rid):
            rid = uuid.uuid4().hex.encode()
        token = request_id.set(rid.decode())
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        try:
            if _json_body_refused(scope):
                status = 415
                await _send_415(send, rid)
            else:
                await app(scope, receive, send_observed)
        finally:
            counter, histogram = _metric_children(scope.get("path_template", "?"), scope["method"], status)
            counter.inc()
            histogram.observe(time.perf_counter() - started)
            request_id.reset(token)

    return middleware


def render_metrics() -> bytes:
    """Prometheus text for this process, or for all workers when they share a metrics directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest())
