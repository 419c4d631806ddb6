"""The snippet's files, the demo shop and the API viewer as the service serves them, and the headers on every answer."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.config import Settings
from consent.web import asset

Client = AsyncTestClient[Litestar]
ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "consent" / "web" / "sdk"


def test_the_snippet_and_its_stylesheet_are_under_15_kb_gzipped() -> None:
    size = sum(len(gzip.compress((SDK / name).read_bytes(), 9)) for name in ("consent.js", "consent.css"))
    assert size < 15 * 1024, size


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def test_the_integrity_hash_in_the_docs_is_that_of_the_snippet() -> None:
    documented = re.findall(
        r'/sdk/v1/consent\.js"\s+integrity="(sha384-[^"]+)"', (ROOT / "docs" / "website.md").read_text()
    )
    assert documented, "docs/website.md shows no integrity hash for /sdk/v1/consent.js"
    assert set(documented) == {sri(SDK / "consent.js")}, "update the hash in docs/website.md"


def test_the_snippet_pins_its_stylesheet_by_its_integrity_hash() -> None:
    assert f'var CSS_INTEGRITY = "{sri(SDK / "consent.css")}";' in (SDK / "consent.js").read_text()


@pytest.mark.parametrize(
    ("path", "cache_control"), [("/sdk/consent.js", "max-age=300"), ("/sdk/v1/consent.js", "max-age=86400")]
)
async def test_the_snippet_is_served_cacheable_with_an_etag_and_readable_from_any_origin(
    client: Client, path: str, cache_control: str
) -> None:
    response = await client.get(path, headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response.content == (SDK / "consent.js").read_bytes()
    assert response.headers["content-type"].startswith("text/javascript")
    assert cache_control in response.headers["cache-control"]
    assert response.headers["access-control-allow-origin"] == "*"
    again = await client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path", ["/sdk/nothing.js", "/sdk/v1/consent.py", "/sdk/.consent.js", "/demo/static/index.html"]
)
async def test_anything_else_under_the_static_paths_is_a_404_problem(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_every_answer_carries_the_security_headers_express_lane_and_errors_included(client: Client) -> None:
    for response in (
        await client.get("/health"),
        await client.post("/v1/check", json={}),  # the express lane, unauthenticated: 401
        await client.get("/no/such/route"),
        await client.get("/sdk/v1/consent.js"),
    ):
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_api_reference_loads_its_pinned_viewer_from_the_service(client: Client) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert '<script src="/viewer/rapidoc-min.js"' in page.text
    assert "https://" not in page.text
    assert "<script>" not in page.text  # nothing inline: the CSP allows only the service's own scripts
    script_src = page.headers["content-security-policy"].split("script-src ", 1)[1].split(";", 1)[0]
    assert script_src == "'self'"
    viewer = await client.get("/viewer/rapidoc-min.js")
    assert viewer.status_code == 200
    assert viewer.content.startswith(b"/*! RapiDoc 9.3.8")


async def test_the_demo_shop_is_served_with_the_demo_key_only_once_there_is_one(
    client: Client, settings: Settings
) -> None:
    assert (await client.get("/demo")).status_code == 404
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / "demo-keys.json").write_text('{"collect": "pk_demo<&>"}')
    for path in ("/demo", "/demo/ja"):
        page = await client.get(path)
        assert page.status_code == 200
        assert 'data-key="pk_demo&lt;&amp;&gt;"' in page.text
        assert page.headers["cache-control"] == "no-store"


def test_a_file_is_read_once() -> None:
    assert asset("sdk", "consent.js") is asset("sdk", "consent.js")
    assert asset("sdk", "../demo/index.html") is None
