"""What the browser tests do on the demo shop's pages, by name."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page

__all__ = ["cookies", "device", "eventually", "ran", "visit"]


def visit(page: Page, path: str = "/demo") -> Locator:
    """Open a page of the demo shop once the banner is rendered; the banner."""
    page.goto(path)
    page.wait_for_selector(".cs-root", state="attached")
    return page.locator(".cs-banner")


def device(page: Page) -> str:
    found: str = page.wait_for_function("() => Consent.deviceId()").json_value()
    return found


def ran(page: Page, script: str) -> Any:
    return page.evaluate(f"window.{script}")


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def cookies(context: BrowserContext) -> set[str]:
    return {c["name"] for c in context.cookies()}
