"""CORS, decided once for every route: a browser may use a publishable key from that key's own origins.

Actual requests: :func:`cors_headers_for` is applied to every answer *after*
authentication (`consent.api.auth.authenticate` leaves the admitted key in the
scope). Only a publishable (`collect`) key, sent from one of its own origins,
gets CORS headers, so a page can never use a secret key, whatever origins
other keys allow. The snippet's static files are readable from any origin.

Preflights carry no credentials, so :func:`answer_preflight` allows one for a
route that accepts collect keys, from an origin some active publishable key
allows; anything else is refused with a 403 problem document. The actual
request is then held to its own key's origins.
"""

from __future__ import annotations

from litestar.exceptions import PermissionDeniedException
from litestar.types import Scope, Send

from consent.api.headers import header, sends_header
from consent.api.problems import problem_for, send_problem
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey

__all__ = ["answer_preflight", "cors_headers_for", "is_preflight"]

_ALLOW_METHODS = b"GET, POST, DELETE, OPTIONS"
_ALLOW_HEADERS = b"authorization, content-type, idempotency-key, sec-gpc"
_EXPOSE_HEADERS = b"content-type, x-request-id"
_NONE: list[tuple[bytes, bytes]] = []
_PUBLIC_FILE = [(b"access-control-allow-origin", b"*")]


def cors_headers_for(key: ApiKey | None, origin: str | None, path: str) -> list[tuple[bytes, bytes]]:
    """What an answer to a request authenticated with `key`, sent from `origin`, carries for CORS.

    The snippet's files (`/sdk/...`) are public and readable from any origin, which subresource
    integrity (`<script integrity=... crossorigin>`) needs; they carry no credentials.
    """
    if key is None and path.startswith("/sdk/"):
        return _PUBLIC_FILE
    if key is None or not key.publishable or origin is None or origin not in key.origins:
        return _NONE
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", _EXPOSE_HEADERS),
        (b"vary", b"Origin"),
    ]


def is_preflight(scope: Scope) -> bool:
    return (
        scope["method"] == "OPTIONS"  # type: ignore[typeddict-item]
        and sends_header(scope, b"origin")
        and sends_header(scope, b"access-control-request-method")
    )


async def answer_preflight(runtime: Runtime, scope: Scope, send: Send, collect_paths: frozenset[str]) -> None:
    """204 with the CORS grants, or a problem document (403 refused, 400 a repeated Origin, or the
    database's failure); `collect_paths` accept publishable keys."""
    path: str = scope["path"]
    try:
        origin = header(scope, b"origin") or ""
        if not _accepts_publishable(path, collect_paths) or origin not in await runtime.api_keys.collect_origins():
            raise PermissionDeniedException("no publishable key may call this endpoint from this origin")
    except Exception as exc:
        await send_problem(send, problem_for(exc, "OPTIONS", path), [(b"vary", b"Origin")])
        return
    headers = [
        (b"vary", b"Origin"),
        (b"content-length", b"0"),
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", _ALLOW_METHODS),
        (b"access-control-allow-headers", _ALLOW_HEADERS),
        (b"access-control-max-age", b"600"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _accepts_publishable(path: str, collect_paths: frozenset[str]) -> bool:
    """Whether `path` is one of `collect_paths`, whose `{parameter}` segments match any one segment."""
    path = path.rstrip("/")
    if path in collect_paths:
        return True
    parts = path.split("/")
    for route in collect_paths:
        pattern = route.split("/")
        if "{" not in route or len(pattern) != len(parts):
            continue
        if all(part == want or (want.startswith("{") and part) for part, want in zip(parts, pattern, strict=True)):
            return True
    return False
