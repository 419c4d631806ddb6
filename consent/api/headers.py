"""Reading request headers, by one rule for every route and both lanes.

A header that decides something (the key, the page's origin, the GPC signal, the
Idempotency-Key) must be sent once: a proxy or CDN in front of the service may read one
copy and the service another, and two readers inside the service used to disagree (one took
the first copy, the other the last). Sent twice, it is refused with a 400 problem naming it,
and nothing is done. Other headers (user agent, geo headers) take their last copy.
"""

from __future__ import annotations

from litestar.types import Scope

from consent.errors import RepeatedHeader

__all__ = ["DECISIVE", "header", "request_headers", "sends_header"]

DECISIVE = frozenset({b"authorization", b"origin", b"sec-gpc", b"idempotency-key"})


def header(scope: Scope, name: bytes) -> str | None:
    """The request header `name` (lower-case bytes), as sent; RepeatedHeader if a decisive one is repeated."""
    found: bytes | None = None
    for key, value in scope["headers"]:
        if key == name:
            if found is not None and name in DECISIVE:
                raise _repeated(name)
            found = value
    return None if found is None else found.decode("latin-1")


def sends_header(scope: Scope, name: bytes) -> bool:
    """Whether the request carries header `name` at all (never raises: for deciding how to answer)."""
    return any(key == name for key, _ in scope["headers"])


def request_headers(scope: Scope) -> dict[str, str]:
    """Every request header by lower-case name; RepeatedHeader if a decisive one is repeated."""
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        if name in headers and key in DECISIVE:
            raise _repeated(key)
        headers[name] = value.decode("latin-1")
    return headers


def _repeated(name: bytes) -> RepeatedHeader:
    field = name.decode("latin-1")
    return RepeatedHeader(f"send the {field} header once", field=field)
