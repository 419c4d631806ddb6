"""The Litestar application, assembled in one factory.

`create_app()` is what the ASGI server imports (`consent.api.app:create_app`,
factory mode); it reads settings from the environment. Tests pass settings
and a database URL explicitly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.types import Receive, Scope, Send

from consent.api.api_keys import ApiKeyController, WhoAmIController
from consent.api.check import check, check_batch, check_consent, check_consent_batch, document_checks
from consent.api.consents import LinkController, SubjectConsentsController
from consent.api.express import ExpressRoute, serve_express
from consent.api.feed import FeedController
from consent.api.health import HealthController
from consent.api.notices import NoticesController
from consent.api.observability import observe
from consent.api.problems import exception_handlers
from consent.api.recording import document_recording, record, record_consent
from consent.api.subjects import SubjectsController
from consent.api.well_known import WellKnownController
from consent.config import Settings, load_settings
from consent.logs import configure_logging
from consent.runtime import Runtime, running

__all__ = ["ConsentApp", "asgi_app", "create_app"]

_DESCRIPTION = (
    "Privacy-first consent and data-governance service: per-purpose consent with signed receipts, "
    "consent checks, encrypted personal data and data-subject requests. Errors are RFC 9457 "
    "problem documents (application/problem+json)."
)


# The hot routes, by exact path: POSTs to them skip Litestar's per-request machinery.
EXPRESS: Mapping[str, ExpressRoute] = {
    "/v1/check": ExpressRoute(check_consent),
    "/v1/check/batch": ExpressRoute(check_consent_batch),
    "/v1/consents": ExpressRoute(record, cors=True),
}


class ConsentApp(Litestar):
    """The Litestar app with the express lane (`consent.api.express`) in front of it."""

    runtime: Runtime | None = None  # set for the lifespan of the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and self.runtime is not None:
            route = EXPRESS.get(scope["path"])
            if route is not None:
                await serve_express(self.runtime, route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


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
            check,
            check_batch,
            record_consent,
            LinkController,
            SubjectConsentsController,
            WellKnownController,
            FeedController,
        ],
        lifespan=[lifespan],
        middleware=[observe],
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Consent service",
            version="0.1.0",
            description=_DESCRIPTION,
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        debug=False,
    )
    document_checks(app)
    document_recording(app)
    return app


def asgi_app() -> ConsentApp:
    """The factory the production server calls in each worker (settings from the environment)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
