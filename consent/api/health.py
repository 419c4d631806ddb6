"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus.

`/health` and `/ready` are open; `/metrics` needs a `metrics` (or `admin`) key: its labels name
API key ids and its counts tell how the service is used.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi import ResponseSpec

from consent.api.auth import require_key, scopes
from consent.api.observability import POOL_IDLE, POOL_SIZE, render_metrics
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope

__all__ = ["HealthController"]


class Health(msgspec.Struct, kw_only=True, frozen=True):
    status: str


class Readiness(msgspec.Struct, kw_only=True, frozen=True):
    status: str
    database: bool
    migrations: bool
    notifications: bool
    replica: str | None
    """The read replica (DATABASE_REPLICA_URL): `ok`, `lagging` or `down` (then the primary answers every
    read, so the instance stays ready); null without one."""


class HealthController(Controller):
    tags = ["operations"]
    include_in_schema = True

    @get("/health", operation_id="health", summary="The process is alive")
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="The database is reachable and its migrations current",
        responses={503: ResponseSpec(data_container=Readiness, description="Not ready")},
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Readiness]:
        runtime: Runtime = request.app.state.runtime
        try:
            migrations = await asyncio.wait_for(runtime.migrations_current(), 2.0)
            database = True
        except Exception:
            database = migrations = False
        ok = database and migrations
        body = Readiness(
            status="ready" if ok else "unavailable",
            database=database,
            migrations=migrations,
            notifications=runtime.notifications.connected,
            replica=runtime.reads.replica_state,
        )
        return Response(body, status_code=200 if ok else 503)

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        media_type=MediaType.TEXT,
        guards=[require_key],
        opt=scopes(Scope.METRICS, Scope.ADMIN),
    )
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        runtime: Runtime = request.app.state.runtime
        POOL_SIZE.set(runtime.pool.get_size())
        POOL_IDLE.set(runtime.pool.get_idle_size())
        return Response(render_metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")
