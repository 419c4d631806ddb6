"""`GET /v1/changes`: the consent change feed, with long polling."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromQuery, QueryParameter

from consent.api.auth import require_key, scopes
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.feed import FeedPage

__all__ = ["FeedController"]


class FeedController(Controller):
    path = "/v1/changes"
    tags = ["consent checks"]
    guards = [require_key]
    opt = scopes(Scope.CHECK, Scope.ADMIN)

    @get(operation_id="getChanges", summary="Every consent change in commit order after a cursor")
    async def changes(
        self,
        request: Request[Any, Any, Any],
        after: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        wait: Annotated[float, QueryParameter(ge=0, le=30)] = 0,
    ) -> FeedPage:
        runtime: Runtime = request.app.state.runtime
        return await runtime.feed.page(after, limit=limit, wait=wait)
