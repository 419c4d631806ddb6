"""A header that decides something, sent twice, is refused with 400 on every route and both lanes.

Litestar's test client joins repeated headers into one (`a, b`), as some proxies do; a server
passes them on as sent, as httpx's ASGI transport does, which these tests use.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from consent.ids import uuid7
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, choices, stored

ORIGIN = "https://shop.example"
FOREIGN = "https://evil.example"


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose repeated headers reach the app as sent (httpx's ASGI transport keeps them)."""
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower than httpx's
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/v1/consents", "/v1/consents/"], ids=["express lane", "litestar lane"])
@pytest.mark.parametrize(
    ("name", "values"),
    [("origin", (ORIGIN, FOREIGN)), ("sec-gpc", ("0", "1")), ("idempotency-key", ("a-1", "a-2"))],
)
async def test_a_decisive_header_sent_twice_is_400_and_records_nothing(  # noqa: PLR0917 (fixtures, parameters)
    app: Litestar, make_key: MakeKey, conn: Connection, path: str, name: str, values: tuple[str, str]
) -> None:
    token = (await make_key(Scope.COLLECT, origins=[ORIGIN, FOREIGN])).token
    headers = [("authorization", f"Bearer {token}"), *((name, value) for value in values)]
    if name != "origin":
        headers.append(("origin", ORIGIN))
    async with serving(app) as http:
        response = await http.post(path, json=choices(), headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == name
    if name == "origin":
        assert "access-control-allow-origin" not in response.headers
    assert await stored(conn) == (0, 0)


async def test_the_key_sent_twice_is_400(app: Litestar, make_key: MakeKey) -> None:
    first, second = (await make_key(Scope.CHECK)).token, (await make_key(Scope.ADMIN)).token
    headers = [("authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}")]
    async with serving(app) as http:
        response = await http.get("/v1/whoami", headers=headers)
    assert (response.status_code, response.json()["field"]) == (400, "authorization")


async def test_a_withdrawal_with_two_origins_is_400(app: Litestar, make_key: MakeKey) -> None:
    token = (await make_key(Scope.DSR)).token
    headers = [("authorization", f"Bearer {token}"), ("origin", ORIGIN), ("origin", FOREIGN)]
    async with serving(app) as http:
        response = await http.delete(f"/v1/subjects/{uuid7()}/consents/analytics", headers=headers)
    assert (response.status_code, response.json()["field"]) == (400, "origin")


async def test_a_preflight_with_two_origins_is_a_400_problem(app: Litestar, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    headers = [("origin", ORIGIN), ("origin", FOREIGN), ("access-control-request-method", "POST")]
    async with serving(app) as http:
        response = await http.options("/v1/consents", headers=headers)
    assert (response.status_code, response.json()["field"]) == (400, "origin")
    assert "access-control-allow-origin" not in response.headers
