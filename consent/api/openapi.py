"""The OpenAPI document, completed through Litestar's public spec objects so a client generator can trust it.

Litestar describes every route from its handler and types. What it cannot know
is added here, from the same route options the service enforces: the scopes
of each operation (`opt=scopes(...)`, also the `bearer` security requirement),
the problem documents each may answer (429 everywhere, 401/403 for keys, 404 for a path
parameter, 413/415/422 for a body, 409 for a write that can conflict), the
statuses a handler chooses at run time, and the media type of the JWKS.

Request bodies are described by msgspec, which decodes them, from the same
types: every constraint of their `msgspec.Meta` (schema-only ones in
`extra_json_schema`, such as which subject identifiers a field takes), and
`additionalProperties: false` where unknown fields are refused. A rule about a
whole body is a `json_schema_extra` class variable of its Struct.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
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
    410: "The link was used already, or has expired",
    422: "Invalid input, named in `field`",
    429: "Too many requests from this client network or with this key; retry after `Retry-After` seconds",
    503: "The database cannot be reached at the moment; try again after `Retry-After` seconds",
}
# Statuses a handler picks at run time, beside the one Litestar documents.
_ALSO = {
    "putPersonalRecord": {201: "Created the subject and its record"},
    "createRequest": {200: "The person already has an open request of this type: that one, unchanged"},
}
# Problems a handler answers beyond those its route's shape implies.
_PROBLEMS_ALSO = {
    "lookupSubject": [404],
    "createRequest": [404],  # a subject_id no subject has
    "approveRequest": [409],  # not awaiting approval
    "acknowledgeRequestDelivery": [409],  # nothing was sent to that recipient yet
    "downloadExport": [410],  # used or expired
}
_MEDIA_TYPES = {"getJwks": "application/jwk-set+json"}
_BINARY = {"downloadExport": "application/zip"}
# Further media types an operation may answer with, beside its JSON.
_ALSO_MEDIA_TYPES = {"getRequestsReport": ("text/csv", Schema(type=OpenAPIType.STRING))}


def _problem(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(description=_WHEN[status], content={PROBLEM_JSON: OpenAPIMediaType(schema=_PROBLEM_REF)})


def _problems_of(handler: HTTPRouteHandler, path: str, operation: Operation) -> list[int]:
    statuses = []
    if require_key in handler.resolve_guards():
        statuses += [401, 403, 503]  # every key is looked up in the database
    if "{" in path:
        statuses += [404, 422]
    if operation.parameters:
        statuses.append(422)
    if operation.request_body is not None:
        statuses += [400, 409, 413, 415, 422]
    statuses += _PROBLEMS_ALSO.get(operation.operation_id or "", [])
    statuses.append(429)  # every route: the rate limits (`consent.api.limits`) come before it
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
    if (binary := _BINARY.get(operation.operation_id or "")) is not None:
        success = responses["200"]
        assert isinstance(success, OpenAPIResponse)
        success.content = {
            binary: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
        }
    if (also := _ALSO_MEDIA_TYPES.get(operation.operation_id or "")) is not None:
        success = responses["200"]
        assert isinstance(success, OpenAPIResponse)
        success.content = {**(success.content or {}), also[0]: OpenAPIMediaType(schema=also[1])}
    operation.responses = responses
    if require_key in handler.resolve_guards():
        accepted = sorted(scope.value for scope in scopes_of(handler))
        operation.security = [{"bearer": accepted}]
        note = f"Scopes: {', '.join(accepted)}. Send `Authorization: Bearer <token>`."
        operation.description = f"{operation.description}\n\n{note}" if operation.description else note


_SCHEMA_FIELDS = Schema.field_aliases() | {"not": "schema_not", "if": "schema_if", "else": "schema_else"}
_ONE_SCHEMA = frozenset({"items", "not", "additionalProperties", "if", "then", "else"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})


def _spec(json_schema: dict[str, Any]) -> Schema | Reference:
    """A JSON schema (as msgspec writes it) as Litestar's spec object."""
    ref = json_schema.get("$ref")
    rest = {key: value for key, value in json_schema.items() if key != "$ref"}
    if ref is not None:
        # A reference with constraints beside it: allOf, which every OpenAPI tool reads alike.
        return Schema(all_of=[Reference(ref=ref), _spec(rest)]) if rest else Reference(ref=ref)
    fields = {_SCHEMA_FIELDS.get(key, key): _field(key, value) for key, value in rest.items()}
    return Schema(**fields)


def _field(key: str, value: Any) -> Any:
    if key == "properties":
        return {name: _spec(item) for name, item in value.items()}
    if key in _ONE_SCHEMA and isinstance(value, dict):
        return _spec(value)
    if key in _SCHEMA_LISTS:
        return [_spec(item) for item in value]
    if key == "type":
        return OpenAPIType(value)
    if key == "format":
        return OpenAPIFormat(value)
    return value


def _body_schemas(bodies: Iterable[type[Any]]) -> dict[str, Schema]:
    """Components for the request bodies of `bodies` and every type they hold, named as Litestar names them."""
    structs = sorted(set(bodies), key=lambda body: body.__name__)
    _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    for struct in structs:
        components[struct.__name__].update(getattr(struct, "json_schema_extra", {}))
    specs = {name: _spec(json_schema) for name, json_schema in components.items()}
    return {name: spec for name, spec in specs.items() if isinstance(spec, Schema)}


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
    bodies = [
        field.annotation
        for handler in handlers.values()
        if (field := handler.parsed_data_field) is not None and isinstance(field.annotation, type)
    ]
    for name, schema in _body_schemas(bodies).items():
        # Litestar described these types first, under the same names; a new name means two types share one.
        assert name in document.components.schemas, f"{name}: not a component Litestar named"
        document.components.schemas[name] = schema
    document.components.schemas["Problem"] = _PROBLEM
    document.components.security_schemes = {**(document.components.security_schemes or {}), "bearer": _BEARER}
    for path, item in (document.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(item, method)
            if operation is not None and operation.operation_id in handlers:
                _complete(operation, handlers[operation.operation_id], path)
