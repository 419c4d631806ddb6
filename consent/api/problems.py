"""Every error answer is `application/problem+json` (RFC 9457), mapped here and only here.

`type` is a stable URI per kind of problem, so clients can branch on it;
`field` names the offending input (a JSON path such as `decisions[1].purpose`)
where there is one. Details never echo a submitted value: it may be personal.
"""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap, Send

from consent.errors import ConsentError, InvalidInput
from consent.service.outages import RETRY_AFTER_SECONDS, outage

__all__ = [
    "PROBLEM_JSON",
    "TYPE_BASE",
    "UNSUPPORTED_MEDIA_TYPE",
    "InvalidBody",
    "Problem",
    "exception_handlers",
    "problem_for",
    "send_problem",
]

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


# msgspec's messages, reduced to fixed texts: a message such as "Invalid enum value 'x'" quotes
# the submitted value, which may be personal. Kept verbatim only when it states the schema alone.
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_SCHEMA_ONLY = re.compile(r"Expected `[^`]+`(?: of length [<>]=? \d+| [<>]=? -?[\d.]+)?")
_EXPECTED_TYPE = re.compile(r"Expected `([^`]+)`, got `[^`]+`")
# msgspec names where a value is: "... - at `$.checks[1].subject`" (the body itself: no suffix), and a
# refused key of a mapping by the mapping: "... - at `key` in `$.corrections`".
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at (?:`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL)
# How msgspec's RecursionError for JSON nested too deeply to decode ends; any other is a bug (500).
_TOO_DEEP = "while deserializing"


def _fixed_message(message: str) -> str:
    if "missing required field" in message:
        return "required"
    if "unknown field" in message:
        return "not a known field"
    if message.startswith("Invalid enum value"):
        return "not one of the allowed values"
    if expected := _EXPECTED_TYPE.fullmatch(message):
        return f"expected {expected[1]}"
    if _SCHEMA_ONLY.fullmatch(message):
        return message
    return "invalid value"


def _field_of(key: str, message: str, source: object = "body") -> str:
    if source not in (None, "body"):
        return key
    base = "" if key in ("data", "") else key
    named = _NAMED_FIELD.search(message)
    if named:
        return f"{base}.{named[1]}" if base else named[1]
    return base or "body"


def _invalid(errors: list[dict[str, str]], path: str | None) -> Problem:
    first = errors[0]["field"] if errors else None
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is invalid"
    return _problem(422, detail, field=first, errors=errors, instance=path)


def _validation(exc: ValidationException, path: str) -> Problem:
    # Litestar reports msgspec's errors as {"message", "key", "source"}: `key` is the path inside
    # the body ("data" for the body itself), and a missing or unknown field is named in the message.
    items = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        {
            "field": _field_of(str(item.get("key") or ""), str(item.get("message", "")), item.get("source")),
            "message": _fixed_message(str(item.get("message", ""))),
        }
        for item in items
        if isinstance(item, dict)
    ]
    return _invalid(errors, path)


class InvalidBody(Exception):
    """A body msgspec refused, answered exactly as Litestar's own validation failure for the same body."""

    def __init__(self, error: msgspec.ValidationError) -> None:
        super().__init__(str(error))
        found = _AT_PATH.match(str(error))
        message, at = (found["message"], (found["path"] or "").lstrip(".")) if found else ("", "")
        self.error = {"field": _field_of(at, message), "message": _fixed_message(message)}


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


# Litestar reports a body cut short (the client hung up while sending it) as a 500: the client's doing,
# answered as the express lane answers it.
_CUT_SHORT = "client disconnected prematurely"


def problem_for(exc: Exception, method: str, path: str) -> Problem:
    """The problem document answering `exc` on `method path`; unexpected exceptions are logged as 500s."""
    if isinstance(exc, RecursionError) and _TOO_DEEP in str(exc):
        # msgspec gives up decoding JSON nested deeper than Python's recursion limit, before any field
        # is known (fields that take any JSON say how deep they may go, once decoded: `attributes`).
        exc = InvalidInput("the body nests arrays or objects too deeply", field="body")
    if isinstance(exc, InternalServerException) and exc.detail == _CUT_SHORT:
        exc = InvalidInput("the client went away before sending the body", field="body")
    if isinstance(exc, ConsentError):
        return _consent_error(exc, path)
    if isinstance(exc, ValidationException):
        return _validation(exc, path)
    if isinstance(exc, InvalidBody):
        return _invalid([exc.error], path)
    if isinstance(exc, HTTPException):
        return _http(exc, method, path)
    if (unavailable := outage(exc)) is not None:
        # An outage answers every request alike: one line each, naming the driver's error only.
        log.warning("database unreachable on %s: %s", path, type(exc).__name__)
        found = _consent_error(unavailable, path)
        found.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return found
    # The message may quote internals; log the type and traceback, answer generically.
    log.error("unhandled %s on %s", type(exc).__name__, path, exc_info=exc)
    return _problem(HTTP_500_INTERNAL_SERVER_ERROR, "the service failed; the error is logged", instance=path)


_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


async def send_problem(send: Send, found: Problem, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with `found` in plain ASGI (outside Litestar's exception handlers), as they would."""
    sent = [_CONTENT_TYPE, *((k.lower().encode(), v.encode()) for k, v in found.headers.items()), *(headers or ())]
    await send({"type": "http.response.start", "status": found.status, "headers": sent})
    await send({"type": "http.response.body", "body": msgspec.json.encode(found.body), "more_body": False})


UNSUPPORTED_MEDIA_TYPE = _problem(415, "send the body as application/json", field="content-type")


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    return _response(problem_for(exc, request.method, request.url.path))


# One handler for every exception, so Litestar routes and the express lane answer alike.
exception_handlers: ExceptionHandlersMap = {Exception: _handle}
