"""`GET /v1/changes`: the consent change feed, with long polling."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from consent.api.auth import require_key, scopes
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.feed import FeedPage

__all__ = ["CURSOR_PATTERN", "feed_routes"]

# What `next` looks like: 24 bytes (transaction id, event id) in unpadded base64url; empty is the start.
CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{32})?$"


def feed_routes(max_wait: float) -> list[HTTPRouteHandler]:
    """The feed's handler; a long poll lasts at most `max_wait` seconds (`CONSENT_FEED_MAX_WAIT`)."""

    @get(
        "/v1/changes",
        operation_id="getChanges",
        summary="Every consent change in commit order after a cursor",
        tags=["consent checks"],
        guards=[require_key],
        opt=scopes(Scope.CHECK, Scope.ADMIN),
        signature_namespace={"max_wait": max_wait},  # annotations are strings here, read in this namespace
    )
    async def changes(
        request: Request[Any, Any, Any],
        after: Annotated[str | None, QueryParameter(schema_extra={"pattern": CURSOR_PATTERN})] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        wait: Annotated[float, QueryParameter(ge=0, le=max_wait)] = 0,
    ) -> FeedPage:
        runtime: Runtime = request.app.state.runtime
        return await runtime.feed.page(after, limit=limit, wait=wait)

    return [changes]
