"""Rate limits: per client network, per API key, new subjects per publishable key; 429 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar

from consent.api.app import ConsentApp
from consent.config import Settings, load_settings
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer, choices

ORIGIN = "https://shop.example"
PROXY = "10.0.0.2"
BURST = 3
REFUSAL_DELAY_MS = 50
From = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Small limits, one process (so its share is the whole limit), and one trusted proxy."""
    return load_settings(
        {"CONSENT_ENV": "development"},
        database_url=database_url,
        home=str(tmp_path / "home"),
        workers=1,
        rate_limit_network_per_second=0.01,
        rate_limit_network_burst=BURST,
        rate_limit_key_per_second=0.01,
        rate_limit_key_burst=BURST * 2,
        rate_limit_secret_key_per_second=0.01,
        rate_limit_secret_key_burst=BURST * 2,
        new_subjects_per_minute=2,
        trusted_proxies=f"{PROXY}, 10.0.1.0/24",
        rate_limit_refusal_delay_ms=REFUSAL_DELAY_MS,
    )


@pytest.fixture
def from_address(app: Litestar, runtime: Runtime) -> From:
    """`async with from_address("203.0.113.7") as http:` a client whose requests come from that address."""
    assert isinstance(app, ConsentApp)
    app.state.runtime = app.runtime = runtime

    @asynccontextmanager
    async def connect(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=cast("Any", app), client=(address, 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://consent.test") as http:
            yield http

    return connect


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://consent.dev/problems/too-many-requests"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("lane", ["express", "litestar"])
async def test_a_flood_from_one_network_is_refused_with_429_on_every_route(
    from_address: From, make_key: MakeKey, lane: str
) -> None:
    key = await make_key(Scope.COLLECT)
    request: dict[str, Any] = (
        {"method": "POST", "url": "/v1/consents", "json": choices()}
        if lane == "express"
        else {"method": "GET", "url": "/v1/notices?jurisdiction=gdpr"}
    )
    async with from_address("203.0.113.7") as http:
        answers = [await http.request(**request, headers=bearer(key.token, Origin=ORIGIN)) for _ in range(BURST + 1)]
    assert [a.status_code for a in answers[:BURST]] == [201 if lane == "express" else 200] * BURST
    assert_too_many(answers[BURST])


async def test_a_refusal_waits_before_it_is_sent(from_address: From) -> None:
    async with from_address("203.0.113.9") as http:
        for _ in range(BURST):
            assert (await http.get("/health")).status_code == 200
        started = time.monotonic()
        assert_too_many(await http.get("/health"))
        assert time.monotonic() - started >= REFUSAL_DELAY_MS / 1000


@pytest.mark.parametrize(
    ("first", "same_network", "other_network"),
    [("203.0.113.7", "203.0.113.200", "198.51.100.7"), ("2001:db8:1:aaaa::1", "2001:db8:1:bbbb::2", "2001:db8:2::1")],
    ids=["ipv4 /24", "ipv6 /48"],
)
async def test_a_client_network_shares_one_bucket_and_other_networks_are_served(
    from_address: From, first: str, same_network: str, other_network: str
) -> None:
    async with from_address(first) as client, from_address(same_network) as neighbour:
        for _ in range(BURST):
            assert (await client.get("/health")).status_code == 200
        assert_too_many(await neighbour.get("/health"))
    async with from_address(other_network) as elsewhere:
        assert (await elsewhere.get("/health")).status_code == 200


async def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(from_address: From) -> None:
    async with from_address(PROXY) as proxy:
        for number in range(BURST + 1):  # each from another network, through the proxy: all served
            forwarded = {"X-Forwarded-For": f"198.51.{number}.9, 10.0.1.5"}  # the client, then a trusted hop
            assert (await proxy.get("/health", headers=forwarded)).status_code == 200
    async with from_address("203.0.113.7") as client:
        for number in range(BURST):  # not a proxy: its X-Forwarded-For is ignored
            assert (await client.get("/health", headers={"X-Forwarded-For": f"192.0.{number}.1"})).status_code == 200
        assert_too_many(await client.get("/health", headers={"X-Forwarded-For": "192.0.99.1"}))


async def test_an_address_left_of_the_client_in_x_forwarded_for_is_never_believed(from_address: From) -> None:
    async with from_address(PROXY) as proxy:
        for number in range(BURST):
            forged = {"X-Forwarded-For": f"192.0.{number}.1, 203.0.113.7"}
            assert (await proxy.get("/health", headers=forged)).status_code == 200
        assert_too_many(await proxy.get("/health", headers={"X-Forwarded-For": "192.0.99.1, 203.0.113.7"}))


async def test_the_proof_keeps_the_forwarded_clients_network(
    from_address: From, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    async with from_address(PROXY) as proxy:
        headers = bearer(key.token, Origin=ORIGIN, **{"X-Forwarded-For": "198.51.100.23"})
        assert (await proxy.post("/v1/consents", json=choices(), headers=headers)).status_code == 201
    assert await conn.fetchval("SELECT DISTINCT proof->>'ip_prefix' FROM consent_events") == "198.51.100.0/24"


async def test_a_known_secret_key_is_charged_to_its_key_not_its_network(from_address: From, make_key: MakeKey) -> None:
    checker = await make_key(Scope.CHECK)
    check = {"subject": {"device_id": "d_7Hq2visitor-0000000000"}}
    async with from_address("203.0.113.7") as http:
        statuses = [
            (await http.post("/v1/check", json=check, headers=bearer(checker.token))).status_code
            for _ in range(BURST * 2)
        ]
        assert statuses == [200] * (BURST * 2)  # past the network's burst: a backend's checks are its key's
        assert_too_many(await http.post("/v1/check", json=check, headers=bearer(checker.token)))
        assert (await http.get("/health")).status_code == 200  # the network paid for the key's first use only


async def test_a_publishable_key_is_held_to_its_limit_from_every_network(from_address: From, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    statuses = []
    for number in range(BURST * 2 + 1):
        async with from_address(f"198.51.{number}.9") as http:
            answer = await http.get("/v1/notices?jurisdiction=gdpr", headers=bearer(key.token, Origin=ORIGIN))
            statuses.append(answer.status_code)
    assert statuses == [200] * (BURST * 2) + [429]


async def test_a_publishable_key_over_its_new_subjects_is_refused_for_any_device(
    from_address: From, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.COLLECT)
    headers = bearer(key.token, Origin=ORIGIN)
    devices = [f"d_{number}-quota-00000000000000" for number in range(3)]
    answers = []
    for number, device in enumerate(devices):
        async with from_address(f"198.51.{number}.9") as http:
            answers.append(
                await http.post("/v1/consents", json=choices(subject={"device_id": device}), headers=headers)
            )
    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_too_many(answers[2])
    async with from_address("198.51.50.9") as http:  # a device it created before is refused alike
        assert_too_many(
            await http.post("/v1/consents", json=choices(subject={"device_id": devices[0]}), headers=headers)
        )
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 2


async def test_a_secret_key_has_no_quota_of_new_subjects(from_address: From, make_key: MakeKey) -> None:
    dsr = await make_key(Scope.DSR)
    async with from_address("198.51.100.9") as http:
        for number in range(3):
            body = choices(subject={"device_id": f"d_{number}-secret-0000000000000"})
            assert (await http.post("/v1/consents", json=body, headers=bearer(dsr.token))).status_code == 201
