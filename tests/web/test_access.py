"""The banner for every visitor (keyboard only, a 360 px screen, an accessibility scan), Consent Mode, and the CSP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.pages import device, visit
from tests.web.service import Service

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.11.0 from the npm registry (MPL-2.0)


def focused(page: Page) -> str:
    label: str = page.evaluate("() => document.activeElement.textContent || document.activeElement.id")
    return label


def in_dialog(page: Page) -> bool:
    inside: bool = page.evaluate("() => !!document.activeElement.closest('dialog[open]')")
    return inside


def test_the_keyboard_alone_chooses_with_focus_trapped_in_the_dialog_and_returned(page: Page, service: Service) -> None:
    visit(page)
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('.cs-banner')")  # the banner comes first
    for _ in range(4):
        if focused(page) == "Choose purposes":
            break
        page.keyboard.press("Tab")
    assert focused(page) == "Choose purposes"
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    assert in_dialog(page)
    for _ in range(25):  # more stops than the dialog has, both ways: focus never leaves it
        page.keyboard.press("Tab")
        assert in_dialog(page)
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        assert in_dialog(page)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert focused(page) == "Choose purposes"  # returned to where it was
    page.keyboard.press("Enter")
    # Focus starts on the first switch: the "object" switch of the legitimate interest.
    assert page.evaluate("() => document.activeElement.dataset.purpose") == "fraud_prevention"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the next switch: analytics
    while focused(page) != "Save choices":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert service.check(device(page), "fraud_prevention", "analytics") == {
        "fraud_prevention": "objected",
        "analytics": "granted",
    }


def test_at_360_px_the_banner_fits_and_accept_and_reject_are_the_same_size(browser: Browser, service: Service) -> None:
    context = browser.new_context(base_url=service.url, viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        banner = visit(page)
        expect(banner).to_be_visible()
        accept = banner.get_by_role("button", name="Accept all").bounding_box()
        reject = banner.get_by_role("button", name="Reject all").bounding_box()
        assert accept is not None
        assert reject is not None
        assert (accept["width"], accept["height"]) == (reject["width"], reject["height"])
        assert 0 <= accept["x"] <= accept["x"] + accept["width"] <= 360
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        banner.get_by_role("button", name="Choose purposes").click()
        dialog = page.get_by_role("dialog").bounding_box()
        assert dialog is not None
        assert dialog["width"] <= 360
    finally:
        context.close()


def consent_mode_calls(page: Page) -> list[list[Any]]:
    calls: list[list[Any]] = page.evaluate(
        "() => (window.dataLayer || []).map(a => Array.from(a)).filter(a => a[0] === 'consent')"
    )
    return calls


def test_consent_mode_starts_denied_and_follows_the_choice(page: Page) -> None:
    banner = visit(page)
    calls = consent_mode_calls(page)
    assert calls[0] == [
        "consent", "default",
        {"ad_storage": "denied", "analytics_storage": "denied", "ad_user_data": "denied",
         "ad_personalization": "denied", "wait_for_update": 500},
    ]  # fmt: skip
    banner.get_by_role("button", name="Choose purposes").click()
    page.locator("dialog input[data-purpose=analytics]").check()
    page.get_by_role("button", name="Save choices").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    signals = {"ad_storage": "denied", "analytics_storage": "granted", "ad_user_data": "denied"}
    assert consent_mode_calls(page)[-1] == ["consent", "update", {**signals, "ad_personalization": "denied"}]


@pytest.fixture
def scanned(browser: Browser, service: Service) -> Iterator[Page]:
    """A page that lets axe in: the test injects it inline, which the service's own CSP rightly refuses."""
    context = browser.new_context(base_url=service.url, bypass_csp=True)
    yield context.new_page()
    context.close()


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']}: {v['help']}" for v in result if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", ["/demo", "/demo/ja"])
def test_axe_finds_no_serious_violation_in_the_banner_or_the_dialog(scanned: Page, path: str) -> None:
    banner = visit(scanned, path)
    expect(banner).to_be_visible()
    assert serious_violations(scanned) == []
    banner.get_by_role("button").last.click()
    expect(scanned.get_by_role("dialog")).to_be_visible()
    assert serious_violations(scanned) == []


def test_reduced_motion_turns_the_animation_off(browser: Browser, service: Service) -> None:
    context = browser.new_context(base_url=service.url, reduced_motion="reduce")
    try:
        page = context.new_page()
        banner = visit(page)
        expect(banner).to_be_visible()
        assert banner.evaluate("b => getComputedStyle(b).animationName") == "none"
    finally:
        context.close()


def watch(page: Page, service: Service) -> tuple[list[str], list[str]]:
    """What the page's CSP refuses, and what it fetched from another origin, from now on."""
    refused: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("requestfinished", lambda r: elsewhere.append(r.url) if not r.url.startswith(service.url) else None)
    return refused, elsewhere


def test_the_demo_shop_works_under_the_strict_csp_with_nothing_refused(page: Page, service: Service) -> None:
    refused, elsewhere = watch(page, service)
    banner = visit(page)
    banner.get_by_role("button", name="Choose purposes").click()
    page.get_by_role("button", name="Accept all").last.click()
    page.wait_for_function("() => window.shopAnalyticsRuns === 1 && window.shopAdsRuns === 1")
    assert (refused, elsewhere) == ([], [])


def test_the_api_viewer_loads_from_the_service_itself(page: Page, service: Service) -> None:
    refused, elsewhere = watch(page, service)
    page.goto("/schema")
    expect(page.get_by_text("Record a person's choices, with proof and a signed receipt").first).to_be_visible()
    # RapiDoc's bundled CSS names a web font on Google's servers: the CSP keeps it from being fetched.
    assert [m for m in refused if "font-src" not in m] == []
    assert elsewhere == []
