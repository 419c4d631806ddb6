"""Public documents: the receipt and audit verification keys and the Global Privacy Control statement."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from consent.runtime import Runtime
from crypto import SigningKeyRing, jwks

__all__ = ["WellKnownController"]


def _key_set(ring: SigningKeyRing) -> Response[Any]:
    return Response(jwks(ring), headers={"Cache-Control": "public, max-age=300"}, media_type="application/jwk-set+json")


class WellKnownController(Controller):
    path = "/.well-known"
    tags = ["public"]

    @get("/jwks.json", operation_id="getJwks", summary="Public keys that verify consent receipts (JWKS)")
    async def jwks(self, request: Request[Any, Any, Any]) -> Response[Any]:
        runtime: Runtime = request.app.state.runtime
        return _key_set(runtime.keys.signing_keys)

    @get(
        "/audit-keys.json",
        operation_id="getAuditKeys",
        summary="Public keys that verify audit checkpoints (JWKS)",
        description="A key set of its own: these keys sign audit checkpoints, never receipts.",
    )
    async def audit_keys(self, request: Request[Any, Any, Any]) -> Response[Any]:
        runtime: Runtime = request.app.state.runtime
        return _key_set(runtime.keys.audit_keys)

    @get("/gpc.json", operation_id="getGpcSupport", summary="This service honours Global Privacy Control")
    async def gpc(self, request: Request[Any, Any, Any]) -> dict[str, object]:
        runtime: Runtime = request.app.state.runtime
        # The GPC specification's well-known resource: support, and when that statement last changed.
        return {"gpc": True, "lastUpdate": runtime.policy.current.applied_at.date().isoformat()}
