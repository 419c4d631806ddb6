"""`GET /v1/notices`: what a banner must show, per jurisdiction and language, from the active policy."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.service.policy_versions import apply_policy, bundled_policy
from consent.store.pool import Connection
from policies import Jurisdiction, Policy, gpc_honoured, parse_policy, regime_for
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture
def shop() -> Policy:
    text, source = bundled_policy()
    return parse_policy(text, source=source)


@pytest.fixture
async def headers(make_key: MakeKey) -> dict[str, str]:
    """A banner's request: a collect key, sent from its own origin."""
    key = await make_key(Scope.COLLECT, origins=[ORIGIN])
    return bearer(key.token, origin=ORIGIN)


async def notices(client: Client, headers: dict[str, str], query: str = "", **extra: str) -> dict[str, Any]:
    response = await client.get(f"/v1/notices{query}", headers={**headers, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("jurisdiction", list(Jurisdiction))
@pytest.mark.parametrize("lang", ["en", "ja"])
async def test_every_jurisdiction_answers_in_both_languages_as_the_policy_says(
    client: Client, headers: dict[str, str], shop: Policy, jurisdiction: Jurisdiction, lang: str
) -> None:
    body = await notices(client, headers, f"?jurisdiction={jurisdiction.value}&lang={lang}")
    assert body["jurisdiction"] == jurisdiction.value
    assert body["jurisdiction_source"] == "query"
    assert body["language"] == lang
    assert body["policy_version"] == 1
    assert body["gpc_honoured"] is gpc_honoured(shop, jurisdiction)
    assert [p["purpose"] for p in body["purposes"]] == list(shop.purposes)
    rules = shop.jurisdictions[jurisdiction]
    for shown in body["purposes"]:
        purpose = shop.purposes[shown["purpose"]]
        regime = regime_for(purpose, rules)
        assert shown["regime"] == (regime.value if regime else None), shown["purpose"]
        assert shown["language"] == lang
        assert (shown["title"], shown["text"]) == (purpose.text[lang].title, purpose.text[lang].text)
        assert bool(JAPANESE.search(shown["text"])) is (lang == "ja"), shown["purpose"]
        assert shown["notice_version"] == purpose.notice_version
        assert shown["legal_basis"] == purpose.legal_basis.value


async def test_opt_in_and_opt_out_follow_the_law_of_each_jurisdiction(client: Client, headers: dict[str, str]) -> None:
    regimes = {}
    for jurisdiction in ("gdpr", "ccpa", "appi"):
        body = await notices(client, headers, f"?jurisdiction={jurisdiction}")
        regimes[jurisdiction] = {p["purpose"]: p["regime"] for p in body["purposes"]}
    assert regimes["gdpr"]["advertising"] == "opt_in"
    assert regimes["ccpa"]["advertising"] == "opt_out"
    assert regimes["appi"]["analytics"] == "opt_out"
    assert regimes["appi"]["partner_sharing"] == "opt_in"  # provision to a third party abroad
    assert {r["strictly_necessary"] for r in regimes.values()} == {None}  # nothing to choose


@pytest.mark.parametrize(("jurisdiction", "honoured"), [("ccpa", True), ("us_state", True), ("appi", False)])
async def test_gpc_is_honoured_where_the_policy_makes_it_an_opt_out(
    client: Client, headers: dict[str, str], jurisdiction: str, honoured: bool
) -> None:
    body = await notices(client, headers, f"?jurisdiction={jurisdiction}")
    assert body["gpc_honoured"] is honoured
    by_purpose = {p["purpose"]: p for p in body["purposes"]}
    assert by_purpose["partner_sharing"]["gpc_opt_out"] is honoured
    assert by_purpose["analytics"]["gpc_opt_out"] is False  # not a sale or sharing


@pytest.mark.parametrize(
    ("geo", "expected"),
    [
        ({"cf-ipcountry": "DE"}, "gdpr"),
        ({"cf-ipcountry": "GB"}, "gdpr"),
        ({"cf-ipcountry": "US", "cf-region-code": "CA"}, "ccpa"),
        ({"cf-ipcountry": "US", "cf-region-code": "CO"}, "us_state"),
        ({"cf-ipcountry": "US", "cf-region-code": "NY"}, "default"),
        ({"cf-ipcountry": "JP"}, "appi"),
        ({"cf-ipcountry": "BR"}, "lgpd"),
        ({"cf-ipcountry": "XX"}, "default"),
        ({}, "default"),
    ],
)
async def test_without_a_jurisdiction_the_geo_headers_decide(
    client: Client, headers: dict[str, str], geo: dict[str, str], expected: str
) -> None:
    body = await notices(client, headers, **geo)
    assert body["jurisdiction"] == expected
    assert body["jurisdiction_source"] == "geo_header"


async def test_the_query_wins_over_the_geo_headers(client: Client, headers: dict[str, str]) -> None:
    body = await notices(client, headers, "?jurisdiction=appi", **{"cf-ipcountry": "DE"})
    assert (body["jurisdiction"], body["jurisdiction_source"]) == ("appi", "query")


async def test_an_unknown_language_falls_back_to_english(client: Client, headers: dict[str, str]) -> None:
    body = await notices(client, headers, "?jurisdiction=gdpr&lang=fr")
    assert body["language"] == "en"
    assert {p["language"] for p in body["purposes"]} == {"en"}
    assert not any(JAPANESE.search(p["text"]) for p in body["purposes"])


async def test_a_regional_tag_uses_its_language(client: Client, headers: dict[str, str]) -> None:
    body = await notices(client, headers, "?jurisdiction=appi&lang=ja-JP")
    assert body["language"] == "ja"
    assert all(JAPANESE.search(p["text"]) for p in body["purposes"])


async def test_without_lang_the_accept_language_header_decides(client: Client, headers: dict[str, str]) -> None:
    body = await notices(client, headers, "?jurisdiction=appi", **{"accept-language": "ja,en-US;q=0.8"})
    assert body["language"] == "ja"


@pytest.mark.parametrize("lang", ["e", "en_US", "1234", "en-", "<script>"])
async def test_a_malformed_language_is_a_422_naming_lang(client: Client, headers: dict[str, str], lang: str) -> None:
    response = await client.get("/v1/notices", params={"lang": lang}, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "lang"
    assert "<script>" not in response.text


async def test_an_unknown_jurisdiction_is_a_422_naming_it(client: Client, headers: dict[str, str]) -> None:
    response = await client.get("/v1/notices?jurisdiction=eu", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "jurisdiction"


async def test_a_banner_on_its_origin_gets_cors_headers(client: Client, headers: dict[str, str]) -> None:
    response = await client.get("/v1/notices?jurisdiction=gdpr", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers["vary"]


async def test_a_preflight_from_the_origin_is_allowed(client: Client, headers: dict[str, str]) -> None:
    response = await client.options(
        "/v1/notices",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_a_collect_key_from_a_foreign_origin_is_refused(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT, origins=[ORIGIN])
    response = await client.get("/v1/notices", headers=bearer(key.token, origin="https://evil.example"))
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_a_request_without_a_key_is_refused(client: Client) -> None:
    response = await client.get("/v1/notices")
    assert response.status_code == 401


async def test_a_secret_key_may_read_notices_without_cors(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.CHECK)
    response = await client.get("/v1/notices?jurisdiction=ccpa", headers=bearer(key.token))
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def reworded(text: str) -> str:
    """The shop policy with the analytics notice raised to version 3."""
    changed = text.replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2 only clarified the wording",
        "notice_version = 3\nmin_notice_version = 3",
    )
    assert changed != text
    return changed


async def test_an_applied_policy_is_served_without_a_restart(
    client: Client, headers: dict[str, str], conn: Connection
) -> None:
    before = await notices(client, headers, "?jurisdiction=gdpr")
    assert before["policy_version"] == 1
    text, _ = bundled_policy()
    applied = await apply_policy(conn, reworded(text), source="shop-v2.toml", actor="test")
    assert applied.version == 2

    deadline = time.monotonic() + 2.0
    while True:
        body = await notices(client, headers, "?jurisdiction=gdpr")
        if body["policy_version"] == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert body["policy_version"] == 2
    analytics = next(p for p in body["purposes"] if p["purpose"] == "analytics")
    assert analytics["notice_version"] == 3
