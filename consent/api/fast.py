"""Plain-ASGI endpoints for the hot path, with the same contract as every other route.

Measured here: a Litestar POST handler that decodes a body reaches only ~0.6 times
the throughput of a bare GET, below what the consent check must reach. The
check endpoints therefore read, authenticate, decode and answer in plain ASGI
(registered with Litestar's `@asgi`, so routing, the observability layer and
the problem+json exception handlers still apply), and are documented in the
OpenAPI schema from the same msgspec types (`document`).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Litestar

# Private, but it is the one place the served schema lives; pinned by tests/api/test_health.py.
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.enums import ScopeType
from litestar.exceptions import MethodNotAllowedException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Receive, Scope, Send

from consent.errors import InvalidInput
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey
from consent.service.api_keys.issuing import Scope as KeyScope

__all__ = ["answer_json", "authenticate", "decode_body", "document", "read_body", "runtime_of"]

T = TypeVar("T")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def runtime_of(scope: Scope) -> Runtime:
    runtime: Runtime = scope["litestar_app"].state.runtime
    return runtime


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
        raise MethodNotAllowedException(headers={"Allow": "POST"})
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


def decode_body(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode with msgspec; errors become a 422 naming the field path (e.g. `checks[3].subject`)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        message = match["message"] if match else "invalid value"
        path = (match["path"] or "") if match else ""
        named = re.search(r"(?:unknown|missing required) field `([^`]+)`", message)
        field = path.lstrip(".")
        if named:
            field = f"{field}.{named[1]}" if field else named[1]
        raise InvalidInput(f"{field or 'body'}: {message}", field=field or "body") from None
    except msgspec.DecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def authenticate(runtime: Runtime, scope: Scope, accepted: frozenset[KeyScope]) -> ApiKey:
    """The same rules as the `require_key` guard: 401 without a valid key, 403 without the scope,
    403 for a publishable key outside its allowed origins."""
    header = _header(scope, b"authorization")
    if header is None:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
    key = await runtime.api_keys.resolve(token.strip())
    if key is None:
        raise NotAuthorizedException("unknown or revoked API key")
    if key.scope not in accepted:
        raise PermissionDeniedException(f"a {key.scope.value} key may not call this endpoint")
    if key.publishable and _header(scope, b"origin") not in key.origins:
        raise PermissionDeniedException("this publishable key may only be used from its allowed origins")
    return key


_REPLAYED_HEADERS = [*_JSON_HEADERS, (b"idempotent-replayed", b"true")]


async def answer_json(send: Send, body: bytes, status: int = 200, *, replayed: bool = False) -> None:
    headers = _REPLAYED_HEADERS if replayed else _JSON_HEADERS
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def document(
    app: Litestar,
    *,
    path: str,
    operation_id: str,
    summary: str,
    request: type[Any],
    response: type[Any],
    tags: list[str],
    security_scopes: list[str],
    status: int = 200,
) -> None:
    """Describe a plain-ASGI POST route in the app's OpenAPI schema, from its msgspec types."""
    # The plugin renders /schema/openapi.json from this cached dict.
    schema = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    (request_schema, response_schema), components = msgspec.json.schema_components(
        [request, response], ref_template="#/components/schemas/{name}"
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
    problem = {"description": "A problem document (RFC 9457)", "content": {"application/problem+json": {}}}
    schema.setdefault("paths", {})[path] = {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": tags,
            "description": f"Scopes: {', '.join(security_scopes)}. Send `Authorization: Bearer <token>`.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
            "responses": {
                str(status): {"description": "Success", "content": {"application/json": {"schema": response_schema}}},
                **{str(code): problem for code in (401, 403, 413, 415, 422)},
            },
        }
    }
