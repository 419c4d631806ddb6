"""`POST /v1/consents` with no decisions: a page recording a Global Privacy Control signal alone."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer, choices, stored

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
GPC = {"Sec-GPC": "1"}


def signal_only(jurisdiction: str) -> dict[str, Any]:
    return choices(jurisdiction=jurisdiction, decisions=[])


async def test_the_signal_alone_opts_out_of_sale_and_sharing_where_gpc_counts(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    collect, checker = await make_key(Scope.COLLECT), await make_key(Scope.CHECK)
    response = await client.post(
        "/v1/consents", json=signal_only("ccpa"), headers=bearer(collect.token, Origin=ORIGIN, **GPC)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body["decisions"]) == {"advertising", "partner_sharing"}
    assert all(d["reason"] == "gpc_opt_out" for d in body["decisions"].values())
    rows = await conn.fetch("SELECT purpose, status, source, gpc FROM consent_events ORDER BY purpose")
    assert [(r["purpose"], r["status"], r["source"], r["gpc"]) for r in rows] == [
        ("advertising", "denied", "gpc", True),
        ("partner_sharing", "denied", "gpc", True),
    ]
    check = await client.post(
        "/v1/check",
        json={"subject": {"device_id": "d_7Hq2visitor-0000000000"}, "purposes": ["advertising", "analytics"]},
        headers=bearer(checker.token),
    )
    assert check.json()["decisions"]["advertising"]["reason"] == "gpc_opt_out"
    assert check.json()["decisions"]["analytics"]["reason"] == "not_opted_out"


async def test_the_signal_again_after_an_opt_out_is_accepted_and_adds_no_event(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    collect = await make_key(Scope.COLLECT)
    headers = bearer(collect.token, Origin=ORIGIN, **GPC)
    first = await client.post("/v1/consents", json=signal_only("gdpr"), headers=headers)
    again = await client.post("/v1/consents", json=signal_only("gdpr"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["event_ids"] == []
    assert again.json()["receipt"].count(".") == 2
    assert await stored(conn) == (2, 2)


@pytest.mark.parametrize(
    ("jurisdiction", "headers"),
    [("ccpa", {}), ("ccpa", {"Sec-GPC": "0"}), ("appi", GPC), ("lgpd", GPC)],
    ids=["no signal", "signal off", "appi ignores gpc", "lgpd ignores gpc"],
)
async def test_no_decisions_without_a_signal_that_counts_is_422_naming_decisions(
    client: Client, make_key: MakeKey, conn: Connection, jurisdiction: str, headers: dict[str, str]
) -> None:
    collect = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents", json=signal_only(jurisdiction), headers=bearer(collect.token, Origin=ORIGIN, **headers)
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "decisions"
    assert await stored(conn) == (0, 0)
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 0


async def test_the_documented_lane_accepts_the_signal_alone_too(client: Client, make_key: MakeKey) -> None:
    """A trailing slash reaches Litestar's handler, whose body type documents the empty list."""
    collect = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents/", json=signal_only("ccpa"), headers=bearer(collect.token, Origin=ORIGIN, **GPC)
    )
    assert response.status_code == 201, response.text
