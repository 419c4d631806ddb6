"""`GET /v1/exports/{token}`: the person's download, once, with no API key; `export_url` on the request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.store.requests import fetch_request
from tests.helpers import MakeKey, bearer
from tests.service.exports.conftest import EMAIL, document_of, unzip

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def dsr(make_key: MakeKey) -> str:
    return (await make_key(Scope.DSR)).token


async def built_export(client: Client, runtime: Runtime, dsr: str, **extra: Any) -> dict[str, Any]:
    """File an access request, build its export as the job would (in a second instance), and show the request."""
    body = {"type": "access", "subject": {"email": EMAIL}, "jurisdiction": "ccpa", "verification": "trusted", **extra}
    filed = await client.post("/v1/requests", json=body, headers=bearer(dsr))
    assert filed.status_code == 201, filed.text
    row = await fetch_request(runtime.pool, UUID(filed.json()["id"]))
    assert row is not None
    await runtime.exports.export_executor(row)
    shown = await client.get(f"/v1/requests/{row.id}", headers=bearer(dsr))
    assert shown.status_code == 200, shown.text
    answer: dict[str, Any] = shown.json()
    return answer


async def test_the_request_shows_its_link_which_downloads_the_zip_once_without_a_key(
    client: Client, runtime: Runtime, dsr: str
) -> None:
    shown = await built_export(client, runtime, dsr)
    url = shown["export_url"]
    assert url.startswith("/v1/exports/")

    first = await client.get(url)
    second = await client.get(url)

    assert first.status_code == 200
    assert first.headers["content-type"] == "application/zip"
    assert first.headers["cache-control"] == "no-store"
    assert document_of(unzip(first.content)).request_id == UUID(shown["id"])
    assert second.status_code == 410
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["type"].endswith("/export-used")
    assert (await client.get(f"/v1/requests/{shown['id']}", headers=bearer(dsr))).json()["export_url"] is None


async def test_an_expired_link_answers_410_and_an_unknown_one_404(client: Client, runtime: Runtime, dsr: str) -> None:
    shown = await built_export(client, runtime, dsr)
    await runtime.pool.execute("UPDATE exports SET expires_at = now() - interval '1 second'")

    expired = await client.get(shown["export_url"])
    unknown = await client.get("/v1/exports/" + "A" * 43)

    assert expired.status_code == 410
    assert expired.json()["type"].endswith("/export-expired")
    assert expired.json()["field"] == "token"
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_full_history_is_kept_on_the_request_and_refused_for_other_types(
    client: Client, runtime: Runtime, dsr: str
) -> None:
    shown = await built_export(client, runtime, dsr, full_history=True)
    assert shown["full_history"] is True

    refused = await client.post(
        "/v1/requests",
        json={"type": "erasure", "subject": {"email": EMAIL}, "jurisdiction": "ccpa", "verification": "trusted",
              "full_history": True},
        headers=bearer(dsr),
    )  # fmt: skip

    assert refused.status_code == 422
    assert refused.json()["field"] == "full_history"
