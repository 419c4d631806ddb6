"""The express lane: the hot POST routes answered before Litestar's per-request machinery.

A consent check sits on every page view of a client, and a banner records a
choice on every first visit. Measured in-process, Litestar's entry point and its
middleware stack (scope setup, exception middleware, our observability layer,
route-level CORS) cost about as much as the whole cached check itself. The
express lane serves exactly those routes, for POST on their exact path, with
the same contract: a request id (`X-Request-Id`), the per-route metrics, 415 for
a body that is not JSON, CORS for publishable keys' origins on collect routes,
and the same problem+json answers (`consent.api.problems.problem_for`).

Anything else (another method, a preflight, a trailing slash) goes to Litestar,
where the same handlers are registered too, so both ways answer alike.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import msgspec
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from consent.api.cors import cors_headers, origin_of
from consent.api.observability import body_is_not_json, count_request, request_id_of, send_unsupported_media_type
from consent.api.problems import PROBLEM_JSON, problem_for
from consent.logs import request_id
from consent.runtime import Runtime

__all__ = ["ExpressHandler", "ExpressRoute", "serve_express"]

ExpressHandler = Callable[[Runtime, Scope, Receive, Send], Awaitable[None]]
_PROBLEM_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


class ExpressRoute(NamedTuple):
    """A route of the express lane: its handler, and whether browsers may call it (collect routes)."""

    handler: ExpressHandler
    cors: bool = False


async def _extra_headers(runtime: Runtime, route: ExpressRoute, scope: Scope, rid: bytes) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-request-id", rid)]
    origin = origin_of(scope) if route.cors else None
    if origin is not None and origin.decode("latin-1") in await runtime.api_keys.collect_origins():
        headers += cors_headers(origin)
    return headers


async def serve_express(runtime: Runtime, route: ExpressRoute, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a POST to `route`'s path as Litestar, its middleware and its exception handlers would."""
    path: str = scope["path"]
    rid = request_id_of(scope)  # type: ignore[arg-type]
    token = request_id.set(rid.decode())
    started = time.perf_counter()
    status = 500
    response_started = False

    async def send_with_headers(message: Message) -> None:
        nonlocal status, response_started
        if message["type"] == "http.response.start":
            status = message["status"]
            response_started = True
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    try:
        if body_is_not_json(scope):  # type: ignore[arg-type]
            status = 415
            await send_unsupported_media_type(send, rid)
            return
        extra = await _extra_headers(runtime, route, scope, rid)
        try:
            await route.handler(runtime, scope, receive, send_with_headers)
        except Exception as exc:
            if response_started:
                raise
            found = problem_for(exc, "POST", path)
            headers = [_PROBLEM_CONTENT_TYPE, *((k.lower().encode(), v.encode()) for k, v in found.headers.items())]
            start: HTTPResponseStartEvent = {"type": "http.response.start", "status": found.status, "headers": headers}
            await send_with_headers(start)
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": msgspec.json.encode(found.body),
                "more_body": False,
            }
            await send_with_headers(body)
    finally:
        count_request(path, "POST", status, time.perf_counter() - started)
        request_id.reset(token)
