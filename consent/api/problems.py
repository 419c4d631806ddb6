"""Every error answer is `application/problem+json` (RFC 9457), mapped here and only here.

`type` is a stable URI per kind of problem, so clients can branch on it;
`field` names the offending input (a JSON path such as `decisions[1].purpose`)
where there is one. Details never echo a submitted value: it may be personal.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from consent.errors import ConsentError

__all__ = ["PROBLEM_JSON", "TYPE_BASE", "exception_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://consent.dev/problems/"

log = logging.getLogger(__name__)

_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation", "Invalid request"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Service unavailable"),
}


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    field: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> Response[dict[str, Any]]:
    default_kind, default_title = _TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or default_kind),
        "title": title or default_title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _consent_error(request: Request[Any, Any, Any], exc: ConsentError) -> Response[dict[str, Any]]:
    response = problem_response(
        exc.status, exc.detail, kind=exc.kind, title=exc.title, field=exc.field, instance=request.url.path
    )
    response.content.update(exc.extra)
    return response


# Litestar reports msgspec's errors as {"message", "key", "source"}: `key` is the path inside
# the body ("data" for the body itself), and a missing or unknown field is named in the message.
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _field_of(item: dict[str, Any]) -> str:
    key = str(item.get("key") or "")
    if item.get("source") not in (None, "body"):
        return key
    base = "" if key in ("data", "") else key
    named = _NAMED_FIELD.search(str(item.get("message", "")))
    if named:
        return f"{base}.{named[1]}" if base else named[1]
    return base or "body"


def _field_errors(exc: ValidationException) -> list[dict[str, str]]:
    items = exc.extra if isinstance(exc.extra, list) else []
    return [
        {"field": _field_of(item), "message": str(item.get("message", "invalid value"))}
        for item in items
        if isinstance(item, dict)
    ]


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = _field_errors(exc)
    first = errors[0]["field"] if errors else None
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is invalid"
    return problem_response(422, detail, field=first, errors=errors, instance=request.url.path)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if isinstance(exc, MethodNotAllowedException):
        detail = f"{request.method} is not allowed here"
    elif isinstance(exc, NotFoundException):
        detail = "no such resource"
    elif isinstance(exc, NotAuthorizedException):
        detail = exc.detail or "send a valid API key as 'Authorization: Bearer <token>'"
        headers.setdefault("WWW-Authenticate", "Bearer")
    elif isinstance(exc, PermissionDeniedException):
        detail = exc.detail or "this key may not do that"
    else:
        detail = exc.detail or _TITLES.get(exc.status_code, ("", "Error"))[1]
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # The message may quote internals; log the type and traceback, answer generically.
    log.error("unhandled %s on %s", type(exc).__name__, request.scope.get("path"), exc_info=exc)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "the service failed; the error is logged", instance=request.url.path
    )


exception_handlers: ExceptionHandlersMap = {
    ConsentError: _consent_error,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _internal,
}
