"""`/.well-known/audit-keys.json`: the keys that verify audit checkpoints, apart from the receipt keys."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.audit import AuditEntry, record
from consent.service.audit_verification import verify_trail
from consent.store.pool import Connection
from crypto import public_keys_from_jwks
from tests.helpers import eventually

Client = AsyncTestClient[Litestar]


async def test_the_audit_keys_are_public_and_apart_from_the_receipt_keys(client: Client) -> None:
    response = await client.get("/.well-known/audit-keys.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age" in response.headers["cache-control"]
    audit_kids = public_keys_from_jwks(response.content).kids
    receipt_kids = public_keys_from_jwks((await client.get("/.well-known/jwks.json")).content).kids
    assert audit_kids
    assert not set(audit_kids) & set(receipt_kids)
    assert all("d" not in jwk for jwk in response.json()["keys"])


async def test_the_running_service_seals_what_it_audits_under_the_published_keys(
    client: Client, conn: Connection
) -> None:
    keys = public_keys_from_jwks((await client.get("/.well-known/audit-keys.json")).content)
    await record(conn, AuditEntry(actor="key:test", action="test.action"))

    async def sealed() -> bool:
        return (await verify_trail(conn, keys)).pending == 0

    await eventually(sealed)
    report = await verify_trail(conn, keys)
    assert report.ok, report.problem
    assert report.sealed >= 1
