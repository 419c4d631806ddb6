"""The API-key resource: operators manage keys over HTTP as well as with `consent apikeys`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from consent.api.auth import api_key_of, require_key, scopes
from consent.runtime import Runtime
from consent.service.api_keys import issuing as api_keys
from consent.service.api_keys.issuing import ApiKey, Scope
from consent.text import CONTROL_CHARACTERS

__all__ = ["ApiKeyController", "WhoAmIController"]


class ApiKeyOut(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    name: str
    scope: Scope
    origins: list[str]
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            scope=key.scope,
            origins=sorted(key.origins),
            token_prefix=key.token_prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


# The rules `consent.service.api_keys.issuing` holds a new key to, stated in the schema only: a name of
# 1 to 100 characters, not blank, without control characters; origins only for, and always for, a
# publishable key, each scheme://host[:port].
_NAME = f"^[^{CONTROL_CHARACTERS}]*[^\\s{CONTROL_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"
_ORIGIN = r"^https?://[A-Za-z0-9.-]*[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,4})?/?$"
_ORIGINS_BY_SCOPE = {
    "oneOf": [
        {"required": ["origins"], "properties": {"scope": {"const": Scope.COLLECT.value}, "origins": {"minItems": 1}}},
        {
            "properties": {
                "scope": {"enum": [scope.value for scope in Scope if scope is not Scope.COLLECT]},
                "origins": {"maxItems": 0},
            }
        },
    ]
}


class ApiKeyCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    json_schema_extra: ClassVar[dict[str, Any]] = _ORIGINS_BY_SCOPE

    name: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": 100, "pattern": _NAME})]
    scope: Scope
    origins: list[Annotated[str, msgspec.Meta(extra_json_schema={"pattern": _ORIGIN})]] = []


class ApiKeyCreated(msgspec.Struct, kw_only=True, frozen=True):
    key: ApiKeyOut
    token: str  # shown once; only its hash is kept


class ApiKeyList(msgspec.Struct, kw_only=True, frozen=True):
    keys: list[ApiKeyOut]


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api keys"]
    guards = [require_key]
    opt = scopes(Scope.ADMIN)

    @get(operation_id="listApiKeys", summary="List API keys (never their tokens)")
    async def list_keys(self, request: Request[Any, Any, Any]) -> ApiKeyList:
        runtime: Runtime = request.app.state.runtime
        return ApiKeyList(keys=[ApiKeyOut.of(k) for k in await api_keys.list_keys(runtime.pool)])

    @post(operation_id="createApiKey", summary="Create an API key; the token is returned once")
    async def create_key(self, request: Request[Any, Any, Any], data: JSONBody[ApiKeyCreate]) -> ApiKeyCreated:
        runtime: Runtime = request.app.state.runtime
        created = await api_keys.create_key(
            runtime.pool, name=data.name, scope=data.scope, origins=data.origins, actor=api_key_of(request).actor
        )
        return ApiKeyCreated(key=ApiKeyOut.of(created.key), token=created.token)

    @post(
        "/{key_id:uuid}/revoke",
        operation_id="revokeApiKey",
        summary="Revoke an API key at once",
        status_code=200,
    )
    async def revoke_key(self, request: Request[Any, Any, Any], key_id: FromPath[UUID]) -> ApiKeyOut:
        runtime: Runtime = request.app.state.runtime
        key = await api_keys.revoke_key(runtime.pool, key_id, actor=api_key_of(request).actor)
        return ApiKeyOut.of(key)


class WhoAmIController(Controller):
    """Lets any key holder check which key they are using (and that it works)."""

    path = "/v1/whoami"
    tags = ["api keys"]
    guards = [require_key]
    opt = scopes(*Scope)

    @get(operation_id="whoAmI", summary="The API key this request is authenticated with")
    async def whoami(self, request: Request[Any, Any, Any]) -> ApiKeyOut:
        return ApiKeyOut.of(api_key_of(request))
