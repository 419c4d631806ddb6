"""Bearer-token authentication and scope guards: one function for every route.

Each route declares the scopes it accepts (`opt=scopes(...)`, see :func:`scopes`).
:func:`authenticate` resolves the token through the per-process key cache and
enforces the scope and, for publishable keys, the browser origin: missing or
unknown key 401, key without the scope or from a foreign origin 403. The
Litestar guard :func:`require_key` and the express lane both call it, and it
leaves the admitted key in the ASGI scope, where the CORS decision
(`consent.api.cors.cors_headers_for`) and the handlers find it.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope as AsgiScope

from consent.api.headers import header
from consent.api.limits import admit_key
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey, Scope

__all__ = ["api_key_of", "authenticate", "authenticated_key", "require_key", "scopes", "scopes_of"]

_STATE_KEY = "consent_api_key"
# A route that forgot to name its scopes is closed to all but operators.
_ADMIN_ONLY = frozenset({Scope.ADMIN})


def scopes(*accepted: Scope) -> dict[str, Any]:
    """Route option naming the scopes that may call it: `@get(..., opt=scopes(Scope.ADMIN))`."""
    return {"scopes": frozenset(accepted)}


def scopes_of(handler: BaseRouteHandler) -> frozenset[Scope]:
    """The scopes a route accepts (its own `opt`, merged by Litestar with its controller's)."""
    accepted: frozenset[Scope] = handler.opt.get("scopes", _ADMIN_ONLY)
    return accepted


def _token(scope: AsgiScope) -> str:
    sent = header(scope, b"authorization")
    if sent is None:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <token>'")
    scheme, _, token = sent.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _browser_origin(scope: AsgiScope) -> str | None:
    """The page's origin: `Origin`, or for a same-origin GET (sent without one) the service's own.

    Browsers send `Origin` on cross-origin requests and on every POST, but not on a same-origin
    GET, such as the demo shop's request for its notices; `Sec-Fetch-Site`, which no page script
    can set, says it is same-origin, and `Host` then names the origin.
    """
    origin = header(scope, b"origin")
    if origin is None and header(scope, b"sec-fetch-site") == "same-origin" and (host := header(scope, b"host")):
        return f"{scope.get('scheme', 'http')}://{host}"
    return origin


async def authenticate(runtime: Runtime, scope: AsgiScope, accepted: frozenset[Scope]) -> ApiKey:
    """The key this request is made with, admitted for a route accepting `accepted`, else 401, 403
    or 429 (the key over its rate limit)."""
    key = await runtime.api_keys.resolve(_token(scope))
    if key is None:
        raise NotAuthorizedException("unknown or revoked API key")
    admit_key(runtime, key)
    if key.scope not in accepted:
        raise PermissionDeniedException(f"a {key.scope.value} key may not call this endpoint")
    if key.publishable and _browser_origin(scope) not in key.origins:
        raise PermissionDeniedException("this publishable key may only be used from its allowed origins")
    scope[_STATE_KEY] = key  # type: ignore[literal-required]
    return key


def authenticated_key(scope: AsgiScope) -> ApiKey | None:
    """The key `authenticate` admitted for this request, if it got that far."""
    key: ApiKey | None = scope.get(_STATE_KEY)  # type: ignore[assignment]
    return key


async def require_key(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if connection.scope.get("method") == "OPTIONS":
        return  # answers only which methods exist; CORS preflights never reach a route (`consent.api.cors`)
    runtime: Runtime = connection.app.state.runtime
    await authenticate(runtime, connection.scope, scopes_of(handler))


def api_key_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key `require_key` admitted for this request."""
    key: ApiKey = connection.scope[_STATE_KEY]  # type: ignore[literal-required]
    return key
