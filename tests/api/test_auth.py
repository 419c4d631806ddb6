import asyncio

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope, revoke_key
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"


async def test_no_key_is_401_with_a_problem(client: Client) -> None:
    response = await client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"].endswith("/unauthenticated")


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer sk_unknown", "sk_no_scheme"])
async def test_a_malformed_or_unknown_key_is_401(client: Client, header: str) -> None:
    response = await client.get("/v1/whoami", headers={"Authorization": header})
    assert response.status_code == 401


@pytest.mark.parametrize("scope", [Scope.CHECK, Scope.DSR, Scope.ADMIN])
async def test_every_secret_scope_may_see_itself(client: Client, make_key: MakeKey, scope: Scope) -> None:
    key = await make_key(scope)
    response = await client.get("/v1/whoami", headers=bearer(key.token))
    assert response.status_code == 200
    assert response.json()["scope"] == scope.value
    assert "token" not in response.json()


@pytest.mark.parametrize("scope", [Scope.CHECK, Scope.DSR])
async def test_a_key_without_the_scope_is_403(client: Client, make_key: MakeKey, scope: Scope) -> None:
    key = await make_key(scope)
    response = await client.get("/v1/api-keys", headers=bearer(key.token))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


async def test_an_admin_key_manages_keys(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    created = await client.post(
        "/v1/api-keys", json={"name": "recommender", "scope": "check"}, headers=bearer(admin.token)
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("sk_")
    listed = await client.get("/v1/api-keys", headers=bearer(admin.token))
    assert {k["name"] for k in listed.json()["keys"]} == {"test", "recommender"}
    assert token not in listed.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "recommender\u0000", "scope": "check"}, "name"),
        ({"name": "banner", "scope": "collect", "origins": ["https://shop.example\u0000"]}, "origins"),
        ({"name": "banner", "scope": "collect", "origins": ["https://shop.example:99999"]}, "origins"),
        ({"name": "banner", "scope": "collect", "origins": ["https://shop.example:port"]}, "origins"),
        ({"name": "recommender\u202egnp.exe", "scope": "check"}, "name"),
        ({"name": "recommender\u0085", "scope": "check"}, "name"),
    ],
    ids=["NUL in the name", "NUL in an origin", "port out of range", "port not a number", "RLO in the name", "C1"],
)
async def test_a_key_that_cannot_be_stored_is_refused_naming_the_field(
    client: Client, make_key: MakeKey, body: dict[str, object], field: str
) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post("/v1/api-keys", json=body, headers=bearer(admin.token))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    listed = await client.get("/v1/api-keys", headers=bearer(admin.token))
    assert {k["name"] for k in listed.json()["keys"]} == {"test"}


async def test_a_revoked_key_stops_working_at_once(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    victim = await make_key(Scope.CHECK)
    assert (await client.get("/v1/whoami", headers=bearer(victim.token))).status_code == 200  # now cached
    revoked = await client.post(f"/v1/api-keys/{victim.key.id}/revoke", headers=bearer(admin.token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    for _ in range(50):  # the notification arrives within milliseconds
        if (await client.get("/v1/whoami", headers=bearer(victim.token))).status_code == 401:
            break
        await asyncio.sleep(0.01)
    assert (await client.get("/v1/whoami", headers=bearer(victim.token))).status_code == 401


async def test_a_key_revoked_elsewhere_is_refused(client: Client, make_key: MakeKey, conn: object) -> None:
    """Revocation through the CLI or another instance reaches this instance's cache too."""
    victim = await make_key(Scope.DSR)
    assert (await client.get("/v1/whoami", headers=bearer(victim.token))).status_code == 200
    await revoke_key(conn, victim.key.id, actor="cli")  # type: ignore[arg-type]
    for _ in range(50):
        if (await client.get("/v1/whoami", headers=bearer(victim.token))).status_code == 401:
            return
        await asyncio.sleep(0.01)
    pytest.fail("revoked key still accepted after 500 ms")


async def test_revoking_an_unknown_key_is_404(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys/01a208d2-be14-71b6-bca1-5ae077abad7c/revoke", headers=bearer(admin.token)
    )
    assert response.status_code == 404
    assert response.json()["field"] == "key_id"


async def test_a_collect_key_needs_origins(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys", json={"name": "banner", "scope": "collect"}, headers=bearer(admin.token)
    )
    assert response.status_code == 422
    assert response.json()["field"] == "origins"


async def test_a_collect_key_is_refused_outside_collect_endpoints(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT)
    response = await client.get("/v1/api-keys", headers=bearer(key.token, Origin=ORIGIN))
    assert response.status_code == 403


async def test_a_collect_key_works_only_from_its_origins(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.COLLECT, origins=[ORIGIN])
    own = await client.get("/v1/whoami", headers=bearer(key.token, Origin=ORIGIN))
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == ORIGIN
    foreign = await client.get("/v1/whoami", headers=bearer(key.token, Origin="https://evil.example"))
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    no_origin = await client.get("/v1/whoami", headers=bearer(key.token))
    assert no_origin.status_code == 403


@pytest.mark.parametrize(
    ("fetch_site", "allowed_origin", "status"),
    [("same-origin", "http://testserver.local", 200), ("cross-site", "http://testserver.local", 403),
     ("same-origin", ORIGIN, 403)],
    ids=["own page", "another site", "the key's origins lack the service"],
)  # fmt: skip
async def test_a_same_origin_get_without_origin_is_from_the_services_own_origin(
    client: Client, make_key: MakeKey, fetch_site: str, allowed_origin: str, status: int
) -> None:
    """Browsers send no Origin on a same-origin GET (the demo shop's notices); Sec-Fetch-Site says so."""
    key = await make_key(Scope.COLLECT, origins=[allowed_origin])
    response = await client.get("/v1/notices", headers=bearer(key.token, **{"Sec-Fetch-Site": fetch_site}))
    assert response.status_code == status, response.text


async def test_preflight_is_answered_only_for_allowed_origins(client: Client, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = await client.options("/v1/whoami", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    refused = await client.options("/v1/whoami", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_secret_endpoints_send_no_cors_headers(client: Client, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    admin = await make_key(Scope.ADMIN)
    response = await client.get("/v1/api-keys", headers=bearer(admin.token, Origin=ORIGIN))
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options("/v1/api-keys", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("path", ["/v1/check", "/v1/check/"], ids=["express", "litestar"])
async def test_a_request_without_a_key_is_refused_before_its_body_is_read(client: Client, path: str) -> None:
    too_large = b'{"subject": {"user_id": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    response = await client.post(path, content=too_large, headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
