import re

from litestar import Litestar
from litestar.exceptions import InternalServerException
from litestar.testing import AsyncTestClient

from consent.api.problems import problem_for
from consent.service.api_keys.issuing import Scope
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]


def assert_problem(response: object, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"https://consent.dev/problems/{kind}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def test_unknown_path_is_404(client: Client) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")


async def test_wrong_method_is_405(client: Client) -> None:
    assert_problem(await client.put("/health"), 405, "method-not-allowed")


async def test_invalid_field_is_422_naming_it(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post("/v1/api-keys", json={"name": "x", "scope": "superuser"}, headers=bearer(admin.token))
    body = assert_problem(response, 422, "validation")
    assert body["field"] == "scope"


async def test_unknown_field_is_422_naming_it(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys", json={"name": "x", "scope": "check", "colour": "red"}, headers=bearer(admin.token)
    )
    body = assert_problem(response, 422, "validation")
    assert body["field"] == "colour"


async def test_missing_field_is_422(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post("/v1/api-keys", json={"scope": "check"}, headers=bearer(admin.token))
    body = assert_problem(response, 422, "validation")
    assert "name" in str(body["detail"])


async def test_malformed_json_is_a_400_problem(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys",
        content=b'{"name": ',
        headers=bearer(admin.token, **{"Content-Type": "application/json"}),
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_oversized_body_is_413(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys", json={"name": "x" * 70_000, "scope": "check"}, headers=bearer(admin.token)
    )
    assert_problem(response, 413, "payload-too-large")


async def test_non_json_body_is_415(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    response = await client.post(
        "/v1/api-keys", content=b"name=x", headers=bearer(admin.token, **{"Content-Type": "text/plain"})
    )
    body = assert_problem(response, 415, "unsupported-media-type")
    assert body["field"] == "content-type"


async def test_nothing_is_created_by_a_rejected_request(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    await client.post("/v1/api-keys", json={"name": "x", "scope": "superuser"}, headers=bearer(admin.token))
    listed = await client.get("/v1/api-keys", headers=bearer(admin.token))
    assert len(listed.json()["keys"]) == 1


async def test_every_response_carries_a_request_id(client: Client) -> None:
    echoed = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    fresh = await client.get("/health", headers={"X-Request-Id": "not sane; " * 10})
    another = await client.get("/health")
    generated = {fresh.headers["x-request-id"], another.headers["x-request-id"]}
    assert len(generated) == 2  # an insane id is replaced, and every generated one is new
    assert all(re.fullmatch(r"[0-9a-f]{13,}", rid) for rid in generated)


async def test_options_on_a_guarded_route_answers_without_a_key(client: Client) -> None:
    for path, method in (
        ("/v1/subjects/01a208d2-be14-71b6-bca1-5ae077abad7c/consents", "GET"),
        ("/v1/api-keys", "POST"),
    ):
        response = await client.options(path)
        assert response.status_code == 204, path
        assert method in response.headers["allow"]


def test_an_unreachable_database_is_answered_503_with_retry_after_not_500() -> None:
    """The outage itself is exercised end to end in tests/faults/test_database_outage.py."""
    found = problem_for(ConnectionRefusedError(111, "Connection refused"), "POST", "/v1/consents")
    assert found.status == 503
    assert found.body["type"] == "https://consent.dev/problems/unavailable"
    assert found.headers["Retry-After"] == "1"
    assert "refused" not in found.body["detail"].lower()  # the driver's message stays in the log


def test_a_body_cut_short_is_the_clients_doing_not_a_500() -> None:
    """Litestar's words for it; the express lane answers the same (tests/faults/test_hostile_input.py)."""
    found = problem_for(InternalServerException("client disconnected prematurely"), "POST", "/v1/api-keys")
    assert (found.status, found.body["field"]) == (422, "body")
