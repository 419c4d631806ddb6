"""The decision engine's minor rules, end to end: a birth date in the personal record, a guardian's recording."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.ids import uuid7
from consent.service.api_keys.issuing import Scope
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
USER = {"user_id": "u-child"}


def years_ago(years: int) -> str:
    today = datetime.now(UTC).date()
    return date(today.year - years, 1, 1).isoformat()


async def born(client: Client, token: str, birth_date: str) -> None:
    response = await client.put(
        f"/v1/subjects/{uuid7()}/record", json={"user_id": "u-child", "birth_date": birth_date}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    assert response.json()["birth_date"] == birth_date


async def grant(client: Client, token: str, purpose: str, jurisdiction: str, **extra: Any) -> None:
    body = {
        "subject": USER,
        "property": "shop",
        "jurisdiction": jurisdiction,
        "action": "api",
        "decisions": [{"purpose": purpose, "status": "granted", "notice_version": 2 if purpose == "analytics" else 1}],
        **extra,
    }
    response = await client.post("/v1/consents", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text


async def reason(client: Client, token: str, purpose: str, jurisdiction: str) -> str:
    body = {"subject": USER, "purposes": [purpose], "jurisdiction": jurisdiction}
    response = await client.post("/v1/check", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    found: str = response.json()["decisions"][purpose]["reason"]
    return found


async def test_a_child_s_own_grant_needs_a_guardian_and_a_guardian_s_counts(client: Client, make_key: MakeKey) -> None:
    dsr, check = (await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token
    await born(client, dsr, years_ago(12))
    await grant(client, dsr, "analytics", "gdpr")
    assert await reason(client, check, "analytics", "gdpr") == "parental_consent_required"
    await grant(client, dsr, "analytics", "gdpr", by_guardian=True)
    assert await reason(client, check, "analytics", "gdpr") == "granted"


async def test_a_minor_under_the_ccpa_must_opt_in_to_sale(client: Client, make_key: MakeKey) -> None:
    dsr, check = (await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token
    await born(client, dsr, years_ago(15))
    assert await reason(client, check, "advertising", "ccpa") == "minor_opt_in_required"


async def test_an_adult_is_opted_out_only_by_saying_no(client: Client, make_key: MakeKey) -> None:
    dsr, check = (await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token
    await born(client, dsr, years_ago(30))
    assert await reason(client, check, "advertising", "ccpa") == "not_opted_out"
