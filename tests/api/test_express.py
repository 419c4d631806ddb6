"""The express lane answers exactly as Litestar would: same statuses, problems, and headers."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api import app as app_module
from consent.config import Settings
from consent.service.api_keys.issuing import Scope
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
_COMPARED_HEADERS = ("content-type", "www-authenticate", "access-control-allow-origin", "vary")
RECORD = {
    "subject": {"device_id": "d_express-00000000000000"},
    "property": "shop",
    "jurisdiction": "gdpr",
    "action": "save_choices",
    "decisions": [{"purpose": "analytics", "status": "granted", "notice_version": 2}],
}


def _shape(value: Any) -> Any:
    """The JSON shape with ids and times blanked, so two successful answers compare."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__ if isinstance(value, str) else value


async def _both_ways(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str, **request: Any
) -> tuple[Any, Any, Any, Any]:
    express = await client.post(path, **request)
    with monkeypatch.context() as patched:
        patched.setattr("consent.api.app.EXPRESS", {})  # every request through Litestar
        framework = await client.post(path, **request)
    return express, framework, express.json(), framework.json()


@pytest.mark.parametrize(
    "case",
    [
        ("/v1/check", {"subject": {"device_id": "d-0000000000000000000000"}}, None, {}),
        ("/v1/check", {"subject": {"device_id": "d-0000000000000000000000"}}, Scope.COLLECT, {"origin": ORIGIN}),
        ("/v1/check", {"subject": {"device_id": "d-0000000000000000000000"}, "purposes": ["nope"]}, Scope.CHECK, {}),
        ("/v1/check", {"subject": {}}, Scope.CHECK, {}),
        (
            "/v1/check",
            {"subject": {"device_id": "d-0000000000000000000000"}, "purposes": ["analytics"]},
            Scope.CHECK,
            {},
        ),
        ("/v1/check/batch", {"checks": []}, Scope.CHECK, {}),
        ("/v1/consents", RECORD, Scope.COLLECT, {"origin": ORIGIN}),
        ("/v1/consents", RECORD, Scope.COLLECT, {"origin": "https://elsewhere.example"}),
        ("/v1/consents", {**RECORD, "decisions": []}, Scope.COLLECT, {"origin": ORIGIN}),
    ],
)
async def test_the_express_lane_answers_as_litestar_does(
    client: Client,
    make_key: MakeKey,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, dict[str, Any], Scope | None, dict[str, str]],
) -> None:
    path, body, scope, headers = case
    if scope is not None:
        key = await make_key(scope, origins=[ORIGIN] if scope is Scope.COLLECT else None)
        headers = bearer(key.token, **headers)

    express, framework, express_body, framework_body = await _both_ways(
        client, monkeypatch, path, json=body, headers=headers
    )

    assert express.status_code == framework.status_code
    assert _shape(express_body) == _shape(framework_body)
    for name in _COMPARED_HEADERS:
        assert express.headers.get(name) == framework.headers.get(name), name
    assert express.headers["x-request-id"] != framework.headers["x-request-id"]


async def test_a_body_that_is_not_json_is_refused_alike(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    express, framework, express_body, framework_body = await _both_ways(
        client, monkeypatch, "/v1/check", content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert express.status_code == framework.status_code == 415
    assert express_body == framework_body


async def test_express_answers_carry_the_request_id_and_are_counted(client: Client, make_key: MakeKey) -> None:
    answered = await client.post(
        "/v1/check", json={"subject": {"device_id": "d-0000000000000000000000"}}, headers={"X-Request-Id": "r-1"}
    )
    assert answered.status_code == 401
    assert answered.headers["x-request-id"] == "r-1"

    metrics = (await client.get("/metrics", headers=bearer((await make_key(Scope.METRICS)).token))).text
    assert 'consent_http_requests_total{method="POST",route="/v1/check",status="401"}' in metrics


async def test_a_header_added_in_the_shared_place_reaches_express_and_litestar_routes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = app_module.answer_headers
    monkeypatch.setattr(app_module, "answer_headers", lambda scope: [*shared(scope), (b"x-shared", b"yes")])
    async with AsyncTestClient(app=app_module.create_app(settings)) as client:
        express = await client.post("/v1/check", json={"subject": {"device_id": "d-0000000000000000000000"}})
        framework = await client.get("/v1/whoami")
        missing = await client.get("/v1/nothing-here")
    assert express.status_code == framework.status_code == 401
    assert express.headers["x-shared"] == framework.headers["x-shared"] == missing.headers["x-shared"] == "yes"


async def test_a_secret_key_gets_no_cors_even_from_a_collect_origin(client: Client, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    dsr = await make_key(Scope.DSR)
    for response in (
        await client.post("/v1/consents", json=RECORD, headers=bearer(dsr.token, origin=ORIGIN)),
        await client.get("/v1/notices?jurisdiction=gdpr", headers=bearer(dsr.token, origin=ORIGIN)),
    ):
        assert response.status_code in (200, 201), response.text
        assert "access-control-allow-origin" not in response.headers


async def test_a_refused_preflight_is_a_problem_document(client: Client, make_key: MakeKey) -> None:
    await make_key(Scope.COLLECT, origins=[ORIGIN])
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    response = await client.options("/v1/consents", headers=preflight)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/forbidden")
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/v1/check", "/v1/api-keys"])
async def test_a_refused_value_is_never_quoted_back(
    client: Client, make_key: MakeKey, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    admin = await make_key(Scope.ADMIN)
    secret = "private-value-9f1c"
    body = (
        {"subject": {"device_id": "d-0000000000000000000000"}, "jurisdiction": secret}
        if path == "/v1/check"
        else {"name": "x", "scope": secret}
    )
    express, framework, express_body, framework_body = await _both_ways(
        client, monkeypatch, path, json=body, headers=bearer(admin.token)
    )
    assert express.status_code == framework.status_code == 422
    assert express_body["field"] == framework_body["field"]
    assert secret not in express.text
    assert secret not in framework.text
    assert express_body["detail"].endswith(": not one of the allowed values")
