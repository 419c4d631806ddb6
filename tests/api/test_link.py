"""Linking a device to a known user: the anonymous choices follow the person, never someone else's."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.config import ConfigError, Settings, load_settings
from consent.errors import Forbidden
from consent.service.api_keys.issuing import Scope
from consent.service.subjects.linking import IdentityToken, sign_identity_token, verify_identity_token
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
SECRET = "s3cret-shared-with-the-site-backend"


@pytest.fixture
def settings(database_url: str, tmp_path: object) -> Settings:
    return load_settings(
        {"CONSENT_ENV": "development"}, database_url=database_url, home=str(tmp_path), link_token_secret=SECRET
    )


def choice(device: str, purpose: str, status: str, version: int) -> dict[str, object]:
    return {
        "subject": {"device_id": device},
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "save_choices",
        "decisions": [{"purpose": purpose, "status": status, "notice_version": version}],
    }


async def check(client: Client, token: str, subject: dict[str, str], purpose: str) -> dict[str, object]:
    response = await client.post("/v1/check", json={"subject": subject, "purposes": [purpose]}, headers=bearer(token))
    assert response.status_code == 200, response.text
    decision: dict[str, object] = response.json()["decisions"][purpose]
    return decision


async def test_a_secret_key_links_and_the_device_choices_follow_the_user(client: Client, make_key: MakeKey) -> None:
    collect = await make_key(Scope.COLLECT, origins=[ORIGIN])
    admin = await make_key(Scope.ADMIN)
    checker = await make_key(Scope.CHECK)
    recorded = await client.post(
        "/v1/consents",
        json=choice("dev-1-000000000000000000", "analytics", "granted", 2),
        headers=bearer(collect.token, Origin=ORIGIN),
    )
    assert recorded.status_code == 201
    device_before = await client.post(
        "/v1/check", json={"subject": {"device_id": "dev-1-000000000000000000"}}, headers=bearer(checker.token)
    )
    linked = await client.post(
        "/v1/subjects/link",
        json={"device_id": "dev-1-000000000000000000", "user_id": "u-1"},
        headers=bearer(admin.token),
    )
    assert linked.status_code == 200, linked.text
    body = linked.json()
    assert body["carried_purposes"] == ["analytics"]
    assert body["linked_from"] == device_before.json()["subject_id"]
    assert (await check(client, checker.token, {"user_id": "u-1"}, "analytics"))["reason"] == "granted"
    device_now = await client.post(
        "/v1/check", json={"subject": {"device_id": "dev-1-000000000000000000"}}, headers=bearer(checker.token)
    )
    assert device_now.json()["subject_id"] == body["subject_id"]


async def test_a_newer_choice_of_the_user_is_not_overwritten(client: Client, make_key: MakeKey) -> None:
    collect = await make_key(Scope.COLLECT, origins=[ORIGIN])
    admin = await make_key(Scope.ADMIN)
    checker = await make_key(Scope.CHECK)
    await client.post(
        "/v1/consents",
        json=choice("dev-2-000000000000000000", "analytics", "granted", 2),
        headers=bearer(collect.token, Origin=ORIGIN),
    )
    mine = choice("x", "analytics", "denied", 2) | {"subject": {"user_id": "u-2"}}
    assert (await client.post("/v1/consents", json=mine, headers=bearer(admin.token))).status_code == 201
    linked = await client.post(
        "/v1/subjects/link",
        json={"device_id": "dev-2-000000000000000000", "user_id": "u-2"},
        headers=bearer(admin.token),
    )
    assert linked.json()["carried_purposes"] == []
    assert (await check(client, checker.token, {"user_id": "u-2"}, "analytics"))["reason"] == "denied"


async def test_a_page_needs_a_token_signed_by_the_site_backend(client: Client, make_key: MakeKey) -> None:
    collect = await make_key(Scope.COLLECT, origins=[ORIGIN])
    headers = bearer(collect.token, Origin=ORIGIN)
    body = {"device_id": "dev-3-000000000000000000", "user_id": "u-3"}
    assert (await client.post("/v1/subjects/link", json=body, headers=headers)).status_code == 403
    good = sign_identity_token(
        SECRET, IdentityToken(user_id="u-3", device_id="dev-3-000000000000000000", exp=int(time.time()) + 60)
    )
    forged = sign_identity_token(
        "another-secret", IdentityToken(user_id="u-3", device_id="dev-3-000000000000000000", exp=int(time.time()) + 60)
    )
    other_user = sign_identity_token(
        SECRET, IdentityToken(user_id="u-4", device_id="dev-3-000000000000000000", exp=int(time.time()) + 60)
    )
    payload, signature = good.rsplit(".", 1)
    # The first character of the signature carries its first six bits, so changing it always alters them
    # (the last one of unpadded base64url also carries filler bits a decoder may ignore).
    tampered = f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    for token in (forged, other_user, tampered):
        refused = await client.post("/v1/subjects/link", json=body | {"token": token}, headers=headers)
        assert refused.status_code == 403, token
        assert refused.json()["field"] == "token"
    accepted = await client.post("/v1/subjects/link", json=body | {"token": good}, headers=headers)
    assert accepted.status_code == 200


def test_an_expired_identity_token_is_refused() -> None:
    token = sign_identity_token(SECRET, IdentityToken(user_id="u", device_id="d-0000000000000000000000", exp=1000))
    with pytest.raises(Forbidden, match="expired"):
        verify_identity_token(SECRET, token, datetime.now(UTC))


def test_an_identity_token_living_longer_than_an_hour_is_refused() -> None:
    now = datetime.now(UTC)
    lasting = sign_identity_token(SECRET, IdentityToken(user_id="u", device_id="d", exp=int(now.timestamp()) + 7200))
    with pytest.raises(Forbidden, match="at most an hour"):
        verify_identity_token(SECRET, lasting, now)
    hour = sign_identity_token(SECRET, IdentityToken(user_id="u", device_id="d", exp=int(now.timestamp()) + 3600))
    assert verify_identity_token(SECRET, hour, now).user_id == "u"


async def test_a_token_with_a_non_ascii_signature_is_403_not_500(client: Client, make_key: MakeKey) -> None:
    collect = await make_key(Scope.COLLECT, origins=[ORIGIN])
    good = sign_identity_token(SECRET, IdentityToken(user_id="u-1", device_id="d-1", exp=int(time.time()) + 60))
    for forged in (good[:-1] + "é", good.replace(".", ".\u00e9", 1), "日本." + good.split(".")[1]):
        body = {"device_id": "d-1", "user_id": "u-1", "token": forged}
        refused = await client.post("/v1/subjects/link", json=body, headers=bearer(collect.token, Origin=ORIGIN))
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "token"


def test_a_short_link_token_secret_stops_the_service() -> None:
    with pytest.raises(ConfigError, match=r"^CONSENT_LINK_TOKEN_SECRET: at least 32 characters"):
        load_settings({"CONSENT_LINK_TOKEN_SECRET": "short"})
    assert load_settings({"CONSENT_LINK_TOKEN_SECRET": SECRET}).link_token_secret == SECRET


async def test_a_check_key_cannot_link(client: Client, make_key: MakeKey) -> None:
    checker = await make_key(Scope.CHECK)
    response = await client.post(
        "/v1/subjects/link",
        json={"device_id": "d-0000000000000000000000", "user_id": "u"},
        headers=bearer(checker.token),
    )
    assert response.status_code == 403
