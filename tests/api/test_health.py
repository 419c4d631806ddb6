from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]


async def test_health_is_ok(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_and_migrations_are_current(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_not_ready_when_a_migration_is_missing(client: Client, owner_conn: Connection) -> None:
    await owner_conn.execute(
        "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
    )
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["migrations"] is False


async def test_metrics_count_requests_per_route(client: Client, make_key: MakeKey) -> None:
    await client.get("/health")
    response = await client.get("/metrics", headers=bearer((await make_key(Scope.METRICS)).token))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'consent_http_requests_total{method="GET",route="/health",status="200"}' in response.text
    assert "consent_http_request_duration_seconds_bucket" in response.text
    assert "consent_db_pool_connections" in response.text


async def test_metrics_need_a_metrics_or_admin_key(client: Client, make_key: MakeKey) -> None:
    assert (await client.get("/metrics")).status_code == 401
    for scope in (Scope.CHECK, Scope.DSR):
        refused = await client.get("/metrics", headers=bearer((await make_key(scope)).token))
        assert refused.status_code == 403
    admin = await client.get("/metrics", headers=bearer((await make_key(Scope.ADMIN)).token))
    assert admin.status_code == 200


async def test_a_metrics_key_may_call_nothing_else(client: Client, make_key: MakeKey) -> None:
    token = (await make_key(Scope.METRICS)).token
    assert (await client.get("/v1/whoami", headers=bearer(token))).status_code == 200  # any key may ask
    assert (await client.get("/v1/changes", headers=bearer(token))).status_code == 403
    checked = await client.post("/v1/check", json={"subject": {"device_id": "d"}}, headers=bearer(token))
    assert checked.status_code == 403


async def test_the_method_label_takes_one_of_a_fixed_set(client: Client, make_key: MakeKey) -> None:
    await client.request("PROPFIND", "/health")
    await client.request("X-CHOSEN-BY-THE-CLIENT", "/health")
    metrics = (await client.get("/metrics", headers=bearer((await make_key(Scope.METRICS)).token))).text
    assert 'method="other"' in metrics
    assert "PROPFIND" not in metrics
    assert "CHOSEN" not in metrics


async def test_openapi_names_every_operation(client: Client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    operations = [op for path in document["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert operations
    assert all(op.get("operationId") for op in operations)
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))


async def test_the_plain_asgi_routes_are_documented_from_their_types(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path, operation_id in (
        ("/v1/check", "checkConsent"),
        ("/v1/check/batch", "checkConsentBatch"),
        ("/v1/consents", "recordConsent"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["operationId"] == operation_id
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        name = body["$ref"].rsplit("/", 1)[-1]
        assert "subject" in document["components"]["schemas"][name]["properties"] or name == "CheckBatchIn"
