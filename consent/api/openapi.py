"""The OpenAPI document, completed through Litestar's public spec objects so a client generator can trust it.

Litestar describes every route from its handler and types. What it cannot know
is added here, from the same route options the service enforces: the scopes
of each operation (`opt=scopes(...)`, also the `bearer` security requirement),
the problem documents each may answer (401/403 for keys, 404 for a path
parameter, 413/415/422 for a body, 409 for a write that can conflict), the
statuses a handler chooses at run time, and the media type of the JWKS.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
)

from consent.api.auth import require_key, scopes_of
from consent.api.problems import PROBLEM_JSON

__all__ = ["complete_openapi"]

_PROBLEM_REF = Reference(ref="#/components/schemas/Problem")
_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="Stable URI naming the kind of problem"),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="For humans; never repeats a submitted value"),
        "field": Schema(type=OpenAPIType.STRING, description="The offending input, as a JSON path or a name"),
        "instance": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={"field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING)},
            ),
        ),
    },
    description="An RFC 9457 problem document",
)
_BEARER = SecurityScheme(type="http", scheme="bearer", description="An API key")

_WHEN = {
    400: "The body is not valid JSON",
    401: "No key, a malformed Authorization header, an unknown or revoked key",
    403: "The key's scope does not allow this, or a publishable key outside its origins",
    404: "No such resource",
    409: "The request contradicts the current state",
    413: "The body is too large",
    415: "The body is not JSON",
    422: "Invalid input, named in `field`",
}
# Statuses a handler picks at run time, beside the one Litestar documents.
_ALSO = {"putPersonalRecord": {201: "Created the subject and its record"}}
_MEDIA_TYPES = {"getJwks": "application/jwk-set+json"}


def _problem(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(description=_WHEN[status], content={PROBLEM_JSON: OpenAPIMediaType(schema=_PROBLEM_REF)})


def _problems_of(handler: HTTPRouteHandler, path: str, operation: Operation) -> list[int]:
    statuses = []
    if require_key in handler.resolve_guards():
        statuses += [401, 403]
    if "{" in path:
        statuses += [404, 422]
    if operation.parameters:
        statuses.append(422)
    if operation.request_body is not None:
        statuses += [400, 409, 413, 415, 422]
    return sorted(set(statuses))


def _complete(operation: Operation, handler: HTTPRouteHandler, path: str) -> None:
    responses = operation.responses if operation.responses is not None else {}
    responses.pop("400", None)  # Litestar's generic validation answer: this service answers 422 problems
    for status in _problems_of(handler, path, operation):
        responses.setdefault(str(status), _problem(status))
    for status, description in _ALSO.get(operation.operation_id or "", {}).items():
        success = next(iter(responses.values()))
        assert isinstance(success, OpenAPIResponse)
        responses[str(status)] = OpenAPIResponse(description=description, content=success.content)
    if (media_type := _MEDIA_TYPES.get(operation.operation_id or "")) is not None:
        success = responses["200"]
        assert isinstance(success, OpenAPIResponse)
        success.content = {media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))}
    operation.responses = responses
    if require_key in handler.resolve_guards():
        accepted = sorted(scope.value for scope in scopes_of(handler))
        operation.security = [{"bearer": accepted}]
        note = f"Scopes: {', '.join(accepted)}. Send `Authorization: Bearer <token>`."
        operation.description = f"{operation.description}\n\n{note}" if operation.description else note


def complete_openapi(app: Litestar) -> None:
    """Add what only the service knows to `app`'s OpenAPI document, before it is first served."""
    handlers = {
        handler.operation_id: handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if isinstance(handler, HTTPRouteHandler) and isinstance(handler.operation_id, str)
    }
    document = app.openapi_schema
    # Litestar's own components replace those of `OpenAPIConfig`; these are added beside them.
    document.components = document.components if isinstance(document.components, Components) else Components()
    document.components.schemas["Problem"] = _PROBLEM
    document.components.security_schemes = {**(document.components.security_schemes or {}), "bearer": _BEARER}
    for path, item in (document.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(item, method)
            if operation is not None and operation.operation_id in handlers:
                _complete(operation, handlers[operation.operation_id], path)
