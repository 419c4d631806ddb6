"""The tag on another site's pages as its owner adds it: cross-origin, with the integrity hash, on two subdomains."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.web.service import Service

SNIPPET = Path(__file__).resolve().parents[2] / "consent" / "web" / "sdk" / "consent.js"
SITES = ("https://www.shop.test", "https://help.shop.test")
# The service as the shop's visitors reach it; the browser's requests to it are forwarded to the test's service
# (a page on a public origin may not reach a loopback address itself).
SERVICE = "https://consent.example"
MAPPING = '{"analytics_storage": ["analytics"], "ad_personalization": ["advertising", "personalisation"]}'


@pytest.fixture(scope="module")
def site_key(service: Service) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "consent", "apikeys", "create", "--name", "shop-test", "--scope", "collect",
         *(arg for site in SITES for arg in ("--origin", site))],
        env=service.env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return created.stdout.strip()


def page_of(key: str) -> str:
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(SNIPPET.read_bytes()).digest()).decode()
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script src="{SERVICE}/sdk/v1/consent.js" integrity="{integrity}" crossorigin="anonymous"
        data-key="{key}" data-property="shop-test" data-cookie-domain="shop.test"
        data-consent-mode='{MAPPING}' async></script></head>
<body><main><h1>A shop on its own domain</h1></main></body></html>"""


@pytest.fixture
def site(browser: Browser, service: Service, site_key: str) -> Iterator[BrowserContext]:
    """A browser in which the shop's two subdomains answer with a page that embeds the tag."""
    context = browser.new_context()

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=page_of(site_key))

    def forward(route: Route) -> None:
        route.fulfill(response=route.fetch(url=route.request.url.replace(SERVICE, service.url)))

    for origin in SITES:
        context.route(f"{origin}/**", serve)
    context.route(f"{SERVICE}/**", forward)
    yield context
    context.close()


def consent_mode(page: Page) -> Any:
    return page.evaluate("() => Array.from(dataLayer.at(-1))")


def test_a_choice_on_one_subdomain_holds_on_the_other_and_reaches_the_service(
    site: BrowserContext, service: Service
) -> None:
    www = site.new_page()
    www.goto(f"{SITES[0]}/")
    banner = www.locator(".cs-banner")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Choose purposes").click()
    www.locator("dialog input[data-purpose=analytics]").check()
    www.locator("dialog input[data-purpose=advertising]").check()
    www.get_by_role("button", name="Save choices").click()
    expect(www.get_by_role("dialog")).to_be_hidden()
    device: str = www.evaluate("Consent.deviceId()")
    assert service.check(device, "analytics", "advertising") == {"analytics": "granted", "advertising": "granted"}
    # The mapping of the tag, not the default: personalisation is still refused.
    signals = {"ad_storage": "denied", "analytics_storage": "granted", "ad_user_data": "denied"}
    assert consent_mode(www) == ["consent", "update", {**signals, "ad_personalization": "denied"}]
    assert [c["domain"] for c in site.cookies() if c["name"] == "consent_choices"] == [".shop.test"]
    help_page = site.new_page()
    help_page.goto(f"{SITES[1]}/")
    help_page.wait_for_selector(".cs-root", state="attached")
    expect(help_page.locator(".cs-banner")).to_be_hidden()
    assert help_page.evaluate("[Consent.deviceId(), Consent.get('analytics')]") == [device, True]
