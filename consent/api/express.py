"""The express lane: the hot POST routes answered without Litestar's per-request machinery.

A consent check sits on every page view of a client, a banner records a
choice on every first visit, and a person filing a request waits on its
answer. Measured in-process, Litestar's per-request machinery (connection and
signature model, dependency resolution, response object) cost about as much
as the whole cached check itself. For POST on their
exact path, those routes are therefore served here, in plain ASGI:
authenticate, read the body (so a refused request costs no read of up to the
body limit), and call the route's answer, the same function its documented
Litestar handler calls for any other way in (a trailing slash).

Nothing cross-cutting is restated here: the request id, metrics, 415, and the
headers every answer carries (CORS after authentication) come from the one
wrapper around the whole service (`consent.api.observability.observe`), rate
limits from `consent.api.limits`, the key from `consent.api.auth.authenticate`,
errors from `consent.api.problems`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import msgspec
from litestar import Response, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.types import AnyCallable, Receive, Scope, Send

from consent.api.auth import authenticate, require_key, scopes
from consent.api.problems import InvalidBody, problem_for, send_problem
from consent.errors import InvalidInput
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey
from consent.service.api_keys.issuing import Scope as KeyScope

__all__ = ["Answer", "ExpressRoute", "decode_body", "documented_post", "serve_express"]

T = TypeVar("T")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_REPLAYED_HEADERS = [*_JSON_HEADERS, (b"idempotent-replayed", b"true")]
_encode = msgspec.json.Encoder().encode


class Answer(NamedTuple):
    """What a hot route answers, before either lane renders it."""

    body: Any
    status: int = 200
    replayed: bool = False

    def response(self) -> Response[Any]:
        """The same answer for the Litestar lane."""
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return Response(self.body, status_code=self.status, headers=headers)


class ExpressRoute(NamedTuple):
    """A hot route: the scopes it accepts, its answer, and its body limit in multiples of the setting."""

    accepted: frozenset[KeyScope]
    answer: Callable[[Runtime, Scope, ApiKey, bytes], Awaitable[Answer]]
    body_limit: int = 1


def documented_post(
    path: str,
    route: ExpressRoute,
    max_body_bytes: int,
    *,
    operation_id: str,
    summary: str,
    tags: list[str],
    status: int,
) -> Callable[[AnyCallable], HTTPRouteHandler]:
    """The Litestar `@post` of a hot route: the same scopes and body limit as its express lane."""
    return post(
        path,
        operation_id=operation_id,
        summary=summary,
        tags=tags,
        guards=[require_key],
        opt=scopes(*route.accepted),
        status_code=status,
        request_max_body_size=max_body_bytes * route.body_limit,
    )


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode with msgspec; a refusal is answered as Litestar answers it (`problems.InvalidBody`)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidBody(exc) from None
    except msgspec.DecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidInput("the client went away before sending the body", field="body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def serve_express(runtime: Runtime, route: ExpressRoute, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a POST to `route`'s exact path as its Litestar handler would."""
    path: str = scope["path"]
    scope["path_template"] = path  # the metrics' route label
    try:
        key = await authenticate(runtime, scope, route.accepted)  # before the body: refusing costs no read
        body = await _read_body(receive, runtime.settings.max_body_bytes * route.body_limit)
        answer = await route.answer(runtime, scope, key, body)
    except Exception as exc:
        await send_problem(send, problem_for(exc, "POST", path))
        return
    encoded = _encode(answer.body)
    headers = _REPLAYED_HEADERS if answer.replayed else _JSON_HEADERS
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded, "more_body": False})
