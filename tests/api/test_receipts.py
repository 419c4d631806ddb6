"""Signed consent receipts, verified offline with `/.well-known/jwks.json`; the GPC statement."""

from __future__ import annotations

import base64
import json
import re
import string
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from crypto import PublicKeySet, VerificationFailed, public_keys_from_jwks, verify_jws
from tests.helpers import MakeKey, bearer, choices

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
BASE64URL = string.ascii_letters + string.digits + "-_"

CHOICES = choices(language="ja")


def b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def published_keys(client: Client) -> PublicKeySet:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return public_keys_from_jwks(response.content)


async def recorded(client: Client, make_key: MakeKey, **headers: str) -> dict[str, Any]:
    key = await make_key(Scope.COLLECT)
    response = await client.post("/v1/consents", json=CHOICES, headers=bearer(key.token, Origin=ORIGIN, **headers))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_jwks_is_public_and_cacheable(client: Client) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age" in response.headers["cache-control"]
    for jwk in response.json()["keys"]:
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in jwk


async def test_a_receipt_verifies_against_the_published_keys(client: Client, make_key: MakeKey) -> None:
    body = await recorded(client, make_key)
    keys = await published_keys(client)
    header = b64url_json(body["receipt"].split(".")[0])
    assert header["alg"] == "EdDSA"
    assert header["kid"] in keys.kids
    payload = json.loads(verify_jws(body["receipt"], keys))
    assert payload["receipt_id"] == body["receipt_id"]


async def test_a_receipt_states_the_choice_in_consent_receipt_fields(client: Client, make_key: MakeKey) -> None:
    body = await recorded(client, make_key)
    payload = json.loads(verify_jws(body["receipt"], await published_keys(client)))
    assert payload["schema_version"].startswith("consent-receipt/")
    assert payload["subject_id"] == body["subject_id"]
    assert payload["controller"]["name"] == "Example Shop K.K."
    assert payload["controller"]["contact"].startswith("privacy@shop.example")
    assert payload["jurisdiction"] == "gdpr"
    assert payload["collection_method"] == "banner:save_choices"
    assert payload["timestamp"] == body["recorded_at"]
    assert payload["language"] == "ja"
    assert payload["policy_version"] == body["policy_version"]
    assert payload["policy_url"] == "https://shop.example/privacy"
    assert (payload["jti"], payload["sub"]) == (body["receipt_id"], body["subject_id"])
    purposes = {p["purpose"]: p for p in payload["purposes"]}
    assert set(purposes) == {"analytics", "marketing_email"}
    analytics, email = purposes["analytics"], purposes["marketing_email"]
    assert (analytics["legal_basis"], analytics["notice_version"], analytics["status"]) == ("consent", 2, "granted")
    assert analytics["expires_at"] == body["decisions"]["analytics"]["expires_at"]
    assert (email["legal_basis"], email["notice_version"], email["status"], email["expires_at"]) == (
        "consent",
        1,
        "denied",
        None,
    )


async def test_a_receipt_names_no_identifier(client: Client, make_key: MakeKey) -> None:
    body = await recorded(client, make_key, **{"User-Agent": "Firefox/128.0"})
    payload = verify_jws(body["receipt"], await published_keys(client)).decode()
    assert "d_7Hq2visitor-0000000000" not in payload
    assert "Firefox" not in payload


async def test_changing_any_character_of_a_receipt_fails_verification(client: Client, make_key: MakeKey) -> None:
    body = await recorded(client, make_key)
    keys = await published_keys(client)
    receipt: str = body["receipt"]
    for position, char in enumerate(receipt):
        if char == ".":
            continue
        other = BASE64URL[(BASE64URL.index(char) + 1) % len(BASE64URL)]
        with pytest.raises(VerificationFailed):
            verify_jws(receipt[:position] + other + receipt[position + 1 :], keys)


async def test_a_withdrawal_gets_a_receipt_too(client: Client, make_key: MakeKey) -> None:
    dsr = await make_key(Scope.DSR)
    body = (await client.post("/v1/consents", json=CHOICES, headers=bearer(dsr.token))).json()
    withdrawn = await client.delete(f"/v1/subjects/{body['subject_id']}/consents/analytics", headers=bearer(dsr.token))
    payload = json.loads(verify_jws(withdrawn.json()["receipt"], await published_keys(client)))
    assert payload["collection_method"] == "api:withdraw"
    assert [(p["purpose"], p["status"]) for p in payload["purposes"]] == [("analytics", "withdrawn")]


async def test_a_receipt_includes_the_opt_outs_gpc_caused(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents",
        json={**CHOICES, "jurisdiction": "ccpa"},
        headers=bearer(key.token, Origin=ORIGIN, **{"Sec-GPC": "1"}),
    )
    payload = json.loads(verify_jws(response.json()["receipt"], await published_keys(client)))
    statuses = {p["purpose"]: p["status"] for p in payload["purposes"]}
    assert statuses == {
        "analytics": "granted",
        "marketing_email": "denied",
        "advertising": "denied",
        "partner_sharing": "denied",
    }


async def test_the_gpc_statement_is_served(client: Client) -> None:
    response = await client.get("/.well-known/gpc.json")
    assert response.status_code == 200
    body = response.json()
    assert body["gpc"] is True
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["lastUpdate"])
    assert set(body) == {"gpc", "lastUpdate"}
