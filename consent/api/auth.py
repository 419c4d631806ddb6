"""Bearer-token authentication and scope guards.

Each route declares the scopes it accepts in `opt={"scopes": ...}` (see
:func:`scopes`); the one guard :func:`require_key` resolves the token through
the per-process key cache and enforces the scope and, for publishable keys,
the browser origin. Missing or unknown key: 401. Key without the scope or from
a foreign origin: 403.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey, Scope

__all__ = ["api_key_of", "require_key", "scopes"]

_STATE_KEY = "consent_api_key"
# A route that forgot to name its scopes is closed to all but operators.
_ADMIN_ONLY = frozenset({Scope.ADMIN})


def scopes(*accepted: Scope) -> dict[str, Any]:
    """Route option naming the scopes that may call it: `@get(..., opt=scopes(Scope.ADMIN))`."""
    return {"scopes": frozenset(accepted)}


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if header is None:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def require_key(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if connection.scope.get("method") == "OPTIONS":
        return  # answers only which methods exist; CORS preflights are `collect_cors`'s
    runtime: Runtime = connection.app.state.runtime
    key = await runtime.api_keys.resolve(_bearer(connection))
    if key is None:
        raise NotAuthorizedException("unknown or revoked API key")
    accepted: frozenset[Scope] = handler.opt.get("scopes", _ADMIN_ONLY)
    if key.scope not in accepted:
        raise PermissionDeniedException(f"a {key.scope.value} key may not call this endpoint")
    if key.publishable and connection.headers.get("origin") not in key.origins:
        raise PermissionDeniedException("this publishable key may only be used from its allowed origins")
    connection.scope[_STATE_KEY] = key  # type: ignore[literal-required]


def api_key_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key `require_key` admitted for this request."""
    key: ApiKey = connection.scope[_STATE_KEY]  # type: ignore[literal-required]
    return key
