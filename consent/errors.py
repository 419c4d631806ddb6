"""The service's exception hierarchy, mapped to problem+json in one place (`consent.api.problems`).

    ConsentError                 any failure the service reports to a caller
    ├── RepeatedHeader           a header that decides something was sent more than once (400)
    ├── InvalidInput             the request is malformed or names an unknown thing (422)
    ├── NotFound                 the target does not exist (404)
    ├── Conflict                 the request contradicts the current state (409)
    ├── Gone                     the target existed but is no longer available (410)
    ├── Forbidden                credentials lack the right (403)
    └── Unavailable              the database cannot be reached at the moment (503, try again)

Messages never contain personal values: callers name fields, never echo them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "Conflict",
    "ConsentError",
    "Forbidden",
    "Gone",
    "InvalidInput",
    "NotFound",
    "RepeatedHeader",
    "Unavailable",
]


class ConsentError(Exception):
    """Base of every error the service reports to a caller.

    `kind` becomes the last segment of the problem `type` URI, `field` the
    offending field path, `extra` further members of the problem document.
    """

    status = 400
    kind = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = dict(extra or {})


class RepeatedHeader(ConsentError):
    status = 400
    kind = "repeated-header"
    title = "Header sent more than once"


class InvalidInput(ConsentError):
    status = 422
    kind = "validation"
    title = "Invalid request"


class NotFound(ConsentError):
    status = 404
    kind = "not-found"
    title = "Not found"


class Conflict(ConsentError):
    status = 409
    kind = "conflict"
    title = "Conflict"


class Gone(ConsentError):
    status = 410
    kind = "gone"
    title = "Gone"


class Forbidden(ConsentError):
    status = 403
    kind = "forbidden"
    title = "Forbidden"


class Unavailable(ConsentError):
    """An outage, not a fault of the request: the client should try again (`Retry-After` says when)."""

    status = 503
    kind = "unavailable"
    title = "Service unavailable"
