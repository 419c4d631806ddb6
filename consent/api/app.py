"""The Litestar application, assembled in one factory.

`create_app()` is what the ASGI server imports (`consent.api.app:create_app`,
factory mode); it reads settings from the environment. Tests pass settings
and a database URL explicitly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RapidocRenderPlugin
from litestar.routes import HTTPRoute
from litestar.types import HTTPScope, Message, Receive, Send
from litestar.types import Scope as AsgiScope

from consent.api.api_keys import ApiKeyController, WhoAmIController
from consent.api.auth import authenticated_key, scopes_of
from consent.api.check import CHECK, CHECK_BATCH, check_routes
from consent.api.consents import LinkController, SubjectConsentsController
from consent.api.cors import answer_preflight, cors_headers_for, is_preflight
from consent.api.exports import ExportsController
from consent.api.express import ExpressRoute, serve_express
from consent.api.feed import feed_routes
from consent.api.headers import header
from consent.api.health import HealthController
from consent.api.holds import HoldsController
from consent.api.limits import admit_network
from consent.api.notices import NoticesController
from consent.api.observability import observe
from consent.api.openapi import complete_openapi
from consent.api.problems import exception_handlers, problem_for, send_problem
from consent.api.recording import RECORD, recording_routes
from consent.api.reports import ReportsController
from consent.api.requests import FILE_REQUEST, RequestsController
from consent.api.subjects import SubjectsController
from consent.api.web import DemoController, SdkController, ViewerController
from consent.api.well_known import WellKnownController
from consent.config import Settings, load_settings
from consent.logs import configure_logging
from consent.runtime import Runtime, running
from consent.service.api_keys.issuing import Scope
from consent.web import VIEWER

__all__ = ["ConsentApp", "asgi_app", "create_app"]

_DESCRIPTION = (
    "Privacy-first consent and data-governance service: per-purpose consent with signed receipts, "
    "consent checks, encrypted personal data and data-subject requests. Errors are RFC 9457 "
    "problem documents (application/problem+json)."
)


# The hot routes, by exact path: POSTs to them skip Litestar's per-request machinery.
EXPRESS: Mapping[str, ExpressRoute] = {
    "/v1/check": CHECK,
    "/v1/check/batch": CHECK_BATCH,
    "/v1/consents": RECORD,
    "/v1/requests": FILE_REQUEST,
}


# Strict for every answer, JSON or page: the demo shop and the snippet need nothing inline and nothing
# from another origin. A site embedding the snippet sets its own policy (docs/website.md).
_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_OTHER_SECURITY_HEADERS = [(b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]
SECURITY_HEADERS = [(b"content-security-policy", _CSP), *_OTHER_SECURITY_HEADERS]
# The API viewer (RapiDoc) sets style attributes as it renders; its scripts stay as strict as the rest.
VIEWER_SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.replace(b"style-src 'self'", b"style-src 'self' 'unsafe-inline'")),
    *_OTHER_SECURITY_HEADERS,
]


def answer_headers(scope: HTTPScope) -> list[tuple[bytes, bytes]]:
    """Headers every answer carries besides its request id, on every route: the place to add one."""
    path = scope["path"]
    key = authenticated_key(scope)
    # Only a publishable key's answer depends on the Origin, and `authenticate` has read it once already.
    origin = header(scope, b"origin") if key is not None and key.publishable else None
    cors = cors_headers_for(key, origin, path)
    security = VIEWER_SECURITY_HEADERS if path.startswith("/schema") else SECURITY_HEADERS
    return [*security, *cors] if cors else security


class ConsentApp(Litestar):
    """The Litestar app behind the one wrapper every request passes (`observe`), with the express lane."""

    runtime: Runtime | None = None  # set for the lifespan of the app

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._observed = observe(self._dispatch, answer_headers, self._pause_refusal)
        # Paths of routes that accept publishable keys: the only ones a preflight may be granted for.
        self.collect_paths = frozenset(
            route.path
            for route in self.routes
            for handler in getattr(route, "route_handlers", ())
            if Scope.COLLECT in scopes_of(handler)
        )
        # `Allow` of each route, by path template: Litestar 2's own OPTIONS answer lists only the method
        # of the first handler registered on a path (litestar-org/litestar#4169, fixed in Litestar 3).
        self.allowed_methods = {
            route.path_format: ", ".join(sorted(route.methods)).encode()
            for route in self.routes
            if isinstance(route, HTTPRoute)
        }

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == ScopeType.HTTP and self.runtime is not None:
            await self._observed(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _pause_refusal(self) -> None:
        if self.runtime is not None:
            await self.runtime.limits.refusal_pause()

    async def _dispatch(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        assert runtime is not None
        try:
            admit_network(runtime, scope)  # first: a flood is refused before any other work
        except Exception as exc:
            await send_problem(send, problem_for(exc, scope["method"], scope["path"]))  # type: ignore[typeddict-item]
            return
        if scope["method"] == "POST":  # type: ignore[typeddict-item]
            route = EXPRESS.get(scope["path"])
            if route is not None:
                await serve_express(runtime, route, scope, receive, send)
                return
        elif is_preflight(scope):
            await answer_preflight(runtime, scope, send, self.collect_paths)
            return
        elif scope["method"] == "OPTIONS":  # type: ignore[typeddict-item]
            send = self._with_allow(scope, send)
        await super().__call__(scope, receive, send)

    def _with_allow(self, scope: AsgiScope, send: Send) -> Send:
        """`send`, with the `Allow` header of the route Litestar matched."""

        async def sending(message: Message) -> None:
            allowed = self.allowed_methods.get(scope.get("path_template", ""))
            if message["type"] == "http.response.start" and allowed is not None:
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allowed)]
            await send(message)

        return sending


def create_app(settings: Settings | None = None, database_url: str | None = None) -> ConsentApp:
    settings = settings or load_settings()
    url = database_url or settings.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database: `consent serve` starts the embedded one, or set DATABASE_URL")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        assert isinstance(app, ConsentApp)
        async with running(settings, url) as runtime:
            app.state.runtime = app.runtime = runtime
            try:
                yield
            finally:
                app.runtime = None

    app = ConsentApp(
        route_handlers=[
            HealthController,
            ApiKeyController,
            WhoAmIController,
            NoticesController,
            SubjectsController,
            HoldsController,
            RequestsController,
            ExportsController,
            ReportsController,
            *check_routes(settings.max_body_bytes),
            *recording_routes(settings.max_body_bytes),
            LinkController,
            SubjectConsentsController,
            WellKnownController,
            *feed_routes(settings.feed_max_wait),
            SdkController,
            DemoController,
            ViewerController,
        ],
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Consent service",
            version="0.1.0",
            description=_DESCRIPTION,
            path="/schema",
            # The viewer's script is served by the service itself: /schema works offline and under the CSP.
            render_plugins=[RapidocRenderPlugin(js_url=f"/viewer/{VIEWER}", path="/rapidoc", favicon="", style="")],
        ),
        debug=False,
    )
    complete_openapi(app)
    return app


def asgi_app() -> ConsentApp:
    """The factory the production server calls in each worker (settings from the environment)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
