"""CORS for the collect endpoints only: browsers may call them from a publishable key's origins.

A preflight carries no credentials, so it is answered for any origin that some
active publishable key allows; the guard then checks the actual request's
origin against its own key. Other endpoints send no CORS headers at all, so a
browser can never use a secret key from a page.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from consent.runtime import Runtime

__all__ = ["collect_cors", "cors_headers", "origin_of"]

_ALLOW_METHODS = b"GET, POST, DELETE, OPTIONS"
_ALLOW_HEADERS = b"authorization, content-type, idempotency-key, sec-gpc"
_EXPOSE_HEADERS = b"content-type, x-request-id"


def origin_of(scope: Scope) -> bytes | None:
    """The request's Origin header, as sent."""
    for name, value in scope["headers"]:
        if name == b"origin":
            return value
    return None


def _has_header(scope: Scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope["headers"])


def cors_headers(origin: bytes) -> list[tuple[bytes, bytes]]:
    """What an answer to an allowed origin's actual (not preflight) request carries."""
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", _EXPOSE_HEADERS),
        (b"vary", b"Origin"),
    ]


def collect_cors(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        origin = origin_of(scope)
        if origin is None or scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        runtime: Runtime = scope["litestar_app"].state.runtime
        allowed = origin.decode("latin-1") in await runtime.api_keys.collect_origins()
        if scope["method"] == "OPTIONS" and _has_header(scope, b"access-control-request-method"):
            await _preflight(send, origin if allowed else None)
            return
        if not allowed:
            await app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors_headers(origin)]}
            await send(message)

        await app(scope, receive, send_with_cors)

    return middleware


async def _preflight(send: Send, origin: bytes | None) -> None:
    headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
    if origin is not None:
        headers += [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", _ALLOW_METHODS),
            (b"access-control-allow-headers", _ALLOW_HEADERS),
            (b"access-control-max-age", b"600"),
        ]
    await send({"type": "http.response.start", "status": 204 if origin else 403, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
