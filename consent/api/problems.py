"""Every error answer is `application/problem+json` (RFC 9457), mapped here and only here.

`type` is a stable URI per kind of problem, so clients can branch on it;
`field` names the offending input (a JSON path such as `decisions[1].purpose`)
where there is one. Details never echo a submitted value: it may be personal.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

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

__all__ = ["PROBLEM_JSON", "TYPE_BASE", "Problem", "exception_handlers", "problem_for"]

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


class Problem(NamedTuple):
    """A problem document with its status and extra headers, before any framework renders it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def _problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    field: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> Problem:
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
    return Problem(status, body, headers or {})


def _response(found: Problem) -> Response[dict[str, Any]]:
    return Response(found.body, status_code=found.status, media_type=PROBLEM_JSON, headers=found.headers or None)


def _consent_error(exc: ConsentError, path: str) -> Problem:
    found = _problem(exc.status, exc.detail, kind=exc.kind, title=exc.title, field=exc.field, instance=path)
    found.body.update(exc.extra)
    return found


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


def _validation(exc: ValidationException, path: str) -> Problem:
    errors = _field_errors(exc)
    first = errors[0]["field"] if errors else None
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is invalid"
    return _problem(422, detail, field=first, errors=errors, instance=path)


def _http(exc: HTTPException, method: str, path: str) -> Problem:
    headers = dict(exc.headers or {})
    if isinstance(exc, MethodNotAllowedException):
        detail = f"{method} is not allowed here"
    elif isinstance(exc, NotFoundException):
        detail = "no such resource"
    elif isinstance(exc, NotAuthorizedException):
        detail = exc.detail or "send a valid API key as 'Authorization: Bearer <token>'"
        headers.setdefault("WWW-Authenticate", "Bearer")
    elif isinstance(exc, PermissionDeniedException):
        detail = exc.detail or "this key may not do that"
    else:
        detail = exc.detail or _TITLES.get(exc.status_code, ("", "Error"))[1]
    return _problem(exc.status_code, detail, instance=path, headers=headers)


def problem_for(exc: Exception, method: str, path: str) -> Problem:
    """The problem document answering `exc` on `method path`; unexpected exceptions are logged as 500s."""
    if isinstance(exc, ConsentError):
        return _consent_error(exc, path)
    if isinstance(exc, ValidationException):
        return _validation(exc, path)
    if isinstance(exc, HTTPException):
        return _http(exc, method, path)
    # The message may quote internals; log the type and traceback, answer generically.
    log.error("unhandled %s on %s", type(exc).__name__, path, exc_info=exc)
    return _problem(HTTP_500_INTERNAL_SERVER_ERROR, "the service failed; the error is logged", instance=path)


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return _response(problem_for(exc, request.method, request.url.path))


# One handler for every exception, so Litestar routes and the express lane answer alike.
exception_handlers: ExceptionHandlersMap = {Exception: _handle}
