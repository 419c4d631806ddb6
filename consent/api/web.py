"""The website side: the banner and SDK a site embeds, the demo shop, and the API viewer's script.

Static files from `consent.web`, answered with an ETag (a matching `If-None-Match` is a 304)
and a `Cache-Control` fit for their path: the versioned snippet (`/sdk/v1/...`) is cached for a
day, the unversioned one for five minutes so that a site embedding it picks up a release soon.
Security headers (CSP and the rest) and CORS come, as for every answer, from `app.answer_headers`.
The demo shop is served only in development, with the demo's publishable key written into it.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from consent.config import Environment
from consent.runtime import Runtime
from consent.web import SDK_VERSION, Asset, asset

__all__ = ["DemoController", "SdkController", "ViewerController"]

_DAY = "public, max-age=86400"
_FIVE_MINUTES = "public, max-age=300"
_NO_STORE = "no-store"


def _static(request: Request[Any, Any, Any], found: Asset | None, cache_control: str) -> Response[bytes]:
    if found is None:
        raise NotFoundException("no such file")
    headers = {"ETag": found.etag, "Cache-Control": cache_control}
    if request.headers.get("if-none-match") == found.etag:
        return Response(b"", status_code=304, headers=headers, media_type=found.media_type)
    return Response(found.body, headers=headers, media_type=found.media_type)


class SdkController(Controller):
    """`/sdk/consent.js` (and `.css`), and the same files at the versioned path `/sdk/v1/`."""

    path = "/sdk"
    include_in_schema = False

    @get("/{name:str}", operation_id="getSdkFile")
    async def latest(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        return _static(request, asset("sdk", name), _FIVE_MINUTES)

    @get(f"/{SDK_VERSION}/{{name:str}}", operation_id="getVersionedSdkFile")
    async def versioned(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        return _static(request, asset("sdk", name), _DAY)


class ViewerController(Controller):
    """The pinned API viewer that `/schema` loads (no CDN: it works offline and under a strict CSP)."""

    path = "/viewer"
    include_in_schema = False

    @get("/{name:str}", operation_id="getViewerFile")
    async def viewer(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        return _static(request, asset("viewer", name), _DAY)


def _demo_key(runtime: Runtime) -> str | None:
    """The demo's publishable key (`consent serve --demo` writes it), in development only."""
    settings = runtime.settings
    path = settings.home / "demo-keys.json"
    if settings.env is not Environment.DEVELOPMENT or not path.is_file():
        return None
    return msgspec.json.decode(path.read_bytes(), type=dict[str, str]).get("collect")


class DemoController(Controller):
    """The demo shop, in English (`/demo`) and Japanese (`/demo/ja`), with its scripts."""

    path = "/demo"
    include_in_schema = False

    async def _page(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        page = asset("demo", name)
        key = _demo_key(request.app.state.runtime)
        if page is None or key is None:
            raise NotFoundException("the demo shop is served in development, after `consent serve --demo`")
        body = page.body.replace(b"{{collect_key}}", html.escape(key).encode())
        return Response(body, headers={"Cache-Control": _NO_STORE}, media_type=page.media_type)

    @get("/", operation_id="getDemoShop")
    async def english(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return await self._page(request, "index.html")

    @get("/ja", operation_id="getDemoShopJapanese")
    async def japanese(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return await self._page(request, "ja.html")

    @get("/static/{name:str}", operation_id="getDemoFile")
    async def static(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
        if name.endswith(".html"):
            raise NotFoundException("no such file")
        return _static(request, asset("demo", name), _FIVE_MINUTES)
