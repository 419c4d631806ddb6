"""Retake the screenshots in docs/images/ (`make screenshots`): the banner (en, ja, 360 px) and the dialog.

Starts a throwaway `consent serve --demo` (with its own embedded PostgreSQL) and Debian's chromium.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

from tests.web.service import CHROMIUM, CHROMIUM_ARGS, running_service

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SHOTS = [  # file, page, viewport, with the preferences dialog open
    ("banner-en.png", "/demo", ViewportSize(width=1280, height=720), False),
    ("banner-ja.png", "/demo/ja", ViewportSize(width=1280, height=720), False),
    ("banner-mobile.png", "/demo", ViewportSize(width=360, height=740), False),
    ("preferences-dialog.png", "/demo", ViewportSize(width=1280, height=900), True),
]


def _banner(page: Page, path: str) -> None:
    page.goto(path)
    page.wait_for_selector(".cs-banner:not([hidden])")
    page.wait_for_timeout(400)  # the entrance animation


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="consent-screenshots-") as scratch,
        running_service(None, Path(scratch)) as service,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for name, path, viewport, dialog in SHOTS:
            context = browser.new_context(base_url=service.url, viewport=viewport, reduced_motion="reduce")
            page = context.new_page()
            _banner(page, path)
            if dialog:
                page.get_by_role("button", name="Choose purposes").click()
                page.locator("dialog input[data-purpose=analytics]").check()
            page.screenshot(path=str(IMAGES / name))
            print(f"wrote {IMAGES / name}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
