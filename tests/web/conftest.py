"""Browser tests: one real service and one Chromium for the package, a fresh browser context per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import TEMPLATE
from tests.web.service import CHROMIUM, CHROMIUM_ARGS, Service, fresh_database, running_service


# Package scope: the browser's event loop (Playwright's sync API) must not outlive these tests.
@pytest.fixture(scope="package")
def service(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(fresh_database(admin_url, TEMPLATE), tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture(scope="package")
def browser(service: Service) -> Iterator[Browser]:
    """Chromium, started after the service: the service's set-up runs its own event loops first."""
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, service: Service) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=service.url)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def gpc_page(browser: Browser, service: Service) -> Iterator[Page]:
    """A visitor whose browser sends Global Privacy Control: the header and `navigator.globalPrivacyControl`."""
    opened = browser.new_context(base_url=service.url, extra_http_headers={"Sec-GPC": "1"})
    opened.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});")
    yield opened.new_page()
    opened.close()


@pytest.fixture
def california(browser: Browser, service: Service) -> Iterator[Page]:
    """A visitor in California, as the CDN's geo headers say (the service's geo rules: `ccpa`)."""
    opened = browser.new_context(
        base_url=service.url, extra_http_headers={"cf-ipcountry": "US", "cf-region-code": "CA"}
    )
    yield opened.new_page()
    opened.close()
