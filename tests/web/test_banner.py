"""The banner on the demo shop, in Chromium, against a running service; what the check API then says."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.web.pages import cookies, device, eventually, ran, visit
from tests.web.service import Service

SHOP_POLICY = Path(__file__).resolve().parents[2] / "policies" / "examples" / "shop.toml"


def test_accept_all_allows_every_purpose_and_runs_each_gated_script_once(page: Page, service: Service) -> None:
    banner = visit(page)
    expect(banner).to_be_visible()
    assert ran(page, "shopAnalyticsRuns") is None
    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_be_hidden()
    page.wait_for_function("() => window.shopAnalyticsRuns === 1 && window.shopAdsRuns === 1")
    assert service.check(device(page), "analytics", "advertising") == {"analytics": "granted", "advertising": "granted"}
    assert page.evaluate("Consent.receipt()").count(".") == 2
    assert page.evaluate("[Consent.get('analytics'), Consent.get('no_such_purpose')]") == [True, False]
    assert service.subject_of(device(page)) in service.changed_subjects("analytics")
    page.reload()
    page.wait_for_function("() => window.shopAnalyticsRuns === 1")
    expect(page.locator(".cs-banner")).to_be_hidden()


def test_reject_all_denies_and_no_gated_script_ever_runs(page: Page, context: BrowserContext, service: Service) -> None:
    banner = visit(page)
    banner.get_by_role("button", name="Reject all").click()
    expect(banner).to_be_hidden()
    reasons = service.check(device(page), "analytics", "advertising", "fraud_prevention")
    assert reasons == {"analytics": "denied", "advertising": "denied", "fraud_prevention": "legitimate_interest"}
    page.reload()
    page.wait_for_function("() => Consent.deviceId() && document.querySelector('.cs-root')")
    assert (ran(page, "shopAnalyticsRuns"), ran(page, "shopAdsRuns")) == (None, None)
    assert not cookies(context) & {"shop_analytics", "shop_ads"}


def test_custom_choices_allow_only_the_purposes_switched_on(page: Page, service: Service) -> None:
    banner = visit(page)
    page.evaluate("window.seen = []; Consent.on('change', d => seen.push(d))")
    banner.get_by_role("button", name="Choose purposes").click()
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    expect(dialog).to_be_visible()
    switches = dialog.get_by_role("switch")
    # Nothing pre-ticked for opt-in purposes; the legitimate interest is an "object" switch, off.
    assert [s.is_checked() for s in switches.all()] == [False] * switches.count()
    expect(dialog.locator("input[data-purpose=fraud_prevention]")).to_have_accessible_name(re.compile("Object"))
    dialog.locator("input[data-purpose=analytics]").check()
    dialog.get_by_role("button", name="Save choices").click()
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.shopAnalyticsRuns === 1")
    assert ran(page, "shopAdsRuns") is None
    reasons = service.check(device(page), "analytics", "advertising", "personalisation")
    assert reasons == {"analytics": "granted", "advertising": "denied", "personalisation": "denied"}
    seen = page.evaluate("seen")
    assert [(d["action"], d["purposes"]["analytics"], d["purposes"]["advertising"]) for d in seen] == [
        ("save_choices", True, False)
    ]


def test_a_grant_older_than_its_consent_lifetime_is_asked_again(page: Page) -> None:
    banner = visit(page)
    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_be_hidden()
    # As if chosen 400 days ago: analytics lasts 395 days in the shop's policy.
    page.evaluate("""() => {
        const state = JSON.parse(localStorage.getItem('consent_choices'));
        for (const kept of Object.values(state.c)) kept[2] -= 400 * 864e5;
        document.cookie = 'consent_choices=' + encodeURIComponent(JSON.stringify(state)) + '; Path=/';
    }""")
    banner = visit(page)
    expect(banner).to_be_visible()
    assert ran(page, "shopAnalyticsRuns") is None


def test_inline_and_later_added_gated_scripts_run_once_when_allowed(browser: Browser, service: Service) -> None:
    """Inline gated code runs under a CSP that allows it (a nonce, on a real site; here the CSP is bypassed)."""
    context = browser.new_context(base_url=service.url, bypass_csp=True)
    try:
        page = context.new_page()
        banner = visit(page)
        page.evaluate("""() => {
            const inert = document.createElement('script');
            inert.type = 'text/plain';
            inert.dataset.purpose = 'personalisation';
            inert.text = 'window.inlineRuns = (window.inlineRuns || 0) + 1';
            document.body.appendChild(inert);
        }""")
        assert ran(page, "inlineRuns") is None
        banner.get_by_role("button", name="Accept all").click()
        page.wait_for_function("() => window.inlineRuns === 1")
        page.evaluate("Consent.open()")
        page.get_by_role("button", name="Save choices").click()
        expect(page.get_by_role("dialog")).to_be_hidden()
        assert ran(page, "inlineRuns") == 1
    finally:
        context.close()


def test_gpc_turns_sale_and_sharing_off_says_so_and_is_recorded(gpc_page: Page, service: Service) -> None:
    banner = visit(gpc_page)
    expect(banner.get_by_text("Opt-out preference signal honored")).to_be_visible()
    gpc_page.wait_for_function("() => Consent.receipt()")
    # Recorded on the first page view, without any choice: the service adds the opt-outs.
    reasons = service.check(device(gpc_page), "advertising", "partner_sharing", "analytics")
    assert reasons == {"advertising": "gpc_opt_out", "partner_sharing": "gpc_opt_out", "analytics": "not_asked"}
    banner.get_by_role("button", name="Choose purposes").click()
    advertising = gpc_page.locator("dialog input[data-purpose=advertising]")
    expect(advertising).to_be_disabled()
    expect(advertising).not_to_be_checked()
    gpc_page.get_by_role("button", name="Accept all").last.click()
    gpc_page.wait_for_function("() => window.shopAnalyticsRuns === 1")
    assert ran(gpc_page, "shopAdsRuns") is None
    assert service.check(device(gpc_page), "advertising", "analytics") == {
        "advertising": "gpc_opt_out",
        "analytics": "granted",
    }


def test_a_raised_notice_version_shows_the_banner_again(page: Page, service: Service, tmp_path: Path) -> None:
    banner = visit(page)
    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_be_hidden()
    raised = SHOP_POLICY.read_text().replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2",
        "notice_version = 3\nmin_notice_version = 3                       # version 2",
    )
    assert raised != SHOP_POLICY.read_text()
    (tmp_path / "raised.toml").write_text(raised)
    service.apply_policy(tmp_path / "raised.toml")
    try:
        eventually(lambda: service.check(device(page), "analytics") == {"analytics": "notice_outdated"})
        banner = visit(page)
        expect(banner).to_be_visible()
        banner.get_by_role("button", name="Accept all").click()
        expect(banner).to_be_hidden()
        assert service.check(device(page), "analytics") == {"analytics": "granted"}
    finally:
        service.apply_policy(SHOP_POLICY)


def test_withdrawing_through_consent_open_is_recorded_and_deletes_the_purposes_cookies(
    page: Page, context: BrowserContext, service: Service
) -> None:
    banner = visit(page)
    banner.get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.shopAnalyticsRuns === 1 && window.shopAdsRuns === 1")
    assert {"shop_analytics", "_ga_DEMO", "shop_ads"} <= cookies(context)
    page.evaluate("Consent.open()")
    dialog = page.get_by_role("dialog")
    dialog.locator("input[data-purpose=analytics]").uncheck()
    dialog.get_by_role("button", name="Save choices").click()
    expect(dialog).to_be_hidden()
    assert service.check(device(page), "analytics", "advertising") == {
        "analytics": "withdrawn",
        "advertising": "granted",
    }
    left = cookies(context)
    assert not left & {"shop_analytics", "_ga_DEMO"}
    assert "shop_ads" in left
    page.reload()
    page.wait_for_function("() => window.shopAdsRuns === 1")
    assert ran(page, "shopAnalyticsRuns") is None


def test_the_japanese_page_shows_japanese_texts(page: Page) -> None:
    banner = visit(page, "/demo/ja")
    expect(banner.get_by_role("heading")).to_have_text("プライバシーの選択")
    expect(banner.get_by_role("button", name="すべて拒否")).to_be_visible()
    banner.get_by_role("button", name="目的を選ぶ").click()
    expect(page.get_by_role("dialog").get_by_role("heading", name="アクセス解析")).to_be_visible()


def test_an_opt_out_jurisdiction_offers_do_not_sell_or_share_instead_of_a_wall(
    california: Page, service: Service
) -> None:
    banner = visit(california)
    expect(banner.get_by_role("heading")).to_have_text("Do Not Sell or Share My Personal Information")
    california.wait_for_function("() => window.shopAnalyticsRuns === 1 && window.shopAdsRuns === 1")
    banner.get_by_role("button", name="Do Not Sell or Share My Personal Information").click()
    dialog = california.get_by_role("dialog", name="Do Not Sell or Share My Personal Information")
    for purpose in ("advertising", "partner_sharing"):
        dialog.locator(f"input[data-purpose={purpose}]").uncheck()
    dialog.get_by_role("button", name="Save choices").click()
    expect(dialog).to_be_hidden()
    reasons = service.check(device(california), "advertising", "partner_sharing", "analytics")
    assert reasons == {"advertising": "denied", "partner_sharing": "denied", "analytics": "not_opted_out"}
