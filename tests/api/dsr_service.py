"""The service as the request tests run it: the shop policy with every recipient's webhook at a local
receiver, their secrets set, and quick polls so background work is seen at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.config import Settings, load_settings
from consent.store.pool import Connection
from crypto import verify_webhook
from tests.helpers import bearer, eventually
from tests.policies.samples import shop_text
from tests.service.delivery.receiver import Received

Client = AsyncTestClient[Litestar]
SECRETS = {
    "analytics_warehouse": "whsec_analytics",
    "recommendations": "whsec_reco",
    "mailer": "whsec_mailer",
    "ad_partner": "whsec_ads",
}
SECRET_ENV = {
    "CONSENT_RECIPIENT_ANALYTICS_SECRET": SECRETS["analytics_warehouse"],
    "CONSENT_RECIPIENT_RECOMMENDATIONS_SECRET": SECRETS["recommendations"],
    "CONSENT_RECIPIENT_MAILER_SECRET": SECRETS["mailer"],
    "CONSENT_RECIPIENT_AD_PARTNER_SECRET": SECRETS["ad_partner"],
}
RECORD = {
    "name": "Hanako Yamada",
    "email": "hanako@example.jp",
    "phone": "+81 90-1234-5678",
    "address": "1-2-3 Shibuya, Tokyo",
    "user_id": "u-hanako",
    "birth_date": "1990-04-01",
    "attributes": {"loyalty": "gold"},
}
QUICK = {"job_poll_interval_ms": 20, "retry_backoff_base_ms": 20, "retry_backoff_cap_seconds": 1}


def service_settings(
    database_url: str, scratch: Path, webhook_url: str, monkeypatch: pytest.MonkeyPatch, *, legal_obligation: bool
) -> Settings:
    """Settings of the service under test, the recipients' secrets in the environment."""
    for variable, secret in SECRET_ENV.items():
        monkeypatch.setenv(variable, secret)
    policy = policy_file(scratch, webhook_url, legal_obligation=legal_obligation)
    return load_settings(
        {"CONSENT_ENV": "development"},
        database_url=database_url,
        home=str(scratch / "home"),
        policy_file=policy,
        **QUICK,
    )


def policy_file(directory: Path, webhook_url: str, *, legal_obligation: bool = True, manual: bool = True) -> Path:
    """The shop policy with every webhook at `webhook_url`; optionally without the tax-law retention
    obligation, or without manual approval of erasures."""
    text = re.sub(r'webhook_url = "[^"]*"', f'webhook_url = "{webhook_url}"', shop_text())
    if not legal_obligation:
        text = re.sub(r"\nlegal_obligation = .*", "", text)
    if not manual:
        text = text.replace('[requests.erasure]\napproval = "manual"', "")
    path = directory / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def subject_with_record(client: Client, token: str) -> str:
    """A customer who granted analytics and marketing email (twice, the second time with an
    Idempotency-Key and a user agent) and has a full personal record; returns the subject id."""
    body = {
        "subject": {"email": RECORD["email"]},
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "save_choices",
        "decisions": [
            {"purpose": "analytics", "status": "granted", "notice_version": 2},
            {"purpose": "marketing_email", "status": "granted", "notice_version": 1},
            {"purpose": "personalisation", "status": "denied", "notice_version": 1},
        ],
    }
    headers = bearer(token, **{"Idempotency-Key": "order-42", "User-Agent": "Mozilla/5.0 Firefox/128.0"})
    recorded = await client.post("/v1/consents", json=body, headers=headers)
    assert recorded.status_code == 201, recorded.text
    subject_id: str = recorded.json()["subject_id"]
    stored = await client.put(f"/v1/subjects/{subject_id}/record", json=RECORD, headers=bearer(token))
    assert stored.status_code == 200, stored.text
    return subject_id


async def file_request(client: Client, token: str, request_type: str, **body: Any) -> dict[str, Any]:
    body = {"type": request_type, "subject": {"email": RECORD["email"]}, "jurisdiction": "gdpr",
            "verification": "trusted", **body}  # fmt: skip
    response = await client.post("/v1/requests", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    filed: dict[str, Any] = response.json()
    return filed


async def shown(client: Client, token: str, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/requests/{request_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


async def until_executed(client: Client, token: str, request_id: str) -> dict[str, Any]:
    async def executed() -> bool:
        return (await shown(client, token, request_id))["executed_at"] is not None

    await eventually(executed)
    return await shown(client, token, request_id)


async def until_sent(client: Client, token: str, request_id: str) -> list[dict[str, Any]]:
    """The request's deliveries once every one reached its recipient."""

    async def sent() -> bool:
        deliveries = (await shown(client, token, request_id))["deliveries"]
        return bool(deliveries) and all(d["state"] in {"sent", "acknowledged"} for d in deliveries)

    await eventually(sent)
    found: list[dict[str, Any]] = (await shown(client, token, request_id))["deliveries"]
    return found


def orders_received(received: list[Received], kind: str) -> dict[str, dict[str, Any]]:
    """The orders of `kind` the receiver got, by event id, each checked against its recipient's secret."""
    found: dict[str, dict[str, Any]] = {}
    for request in received:
        body = msgspec.json.decode(request.body)
        if body["type"] != kind:
            continue
        secret = SECRETS[_recipient_of(request)]
        assert verify_webhook(secret.encode(), request.headers["consent-timestamp"], request.body,
                              request.headers["consent-signature"])  # fmt: skip
        assert request.headers["consent-event-id"] == body["event_id"]
        found[body["event_id"]] = body
    return found


def _recipient_of(request: Received) -> str:
    """Which recipient a request was meant for: the secret that verifies its signature names it."""
    for recipient, secret in SECRETS.items():
        if verify_webhook(secret.encode(), request.headers["consent-timestamp"], request.body,
                          request.headers["consent-signature"]):  # fmt: skip
            return recipient
    raise AssertionError("no recipient's secret verifies this request")


async def personal_rows(conn: Connection, subject_id: str) -> dict[str, int]:
    """What could still be read about the subject, table by table."""
    counts: dict[str, int] = {}
    for table, where in (
        ("subject_keys", "subject_id = $1"),
        ("personal_records", "subject_id = $1"),
        ("subject_identifiers", "subject_id = $1"),
        ("idempotency_keys", "subject_id = $1 OR response->>'subject_id' = $1::text"),
        ("outbox", "subject_id = $1 AND kind NOT LIKE '%.ordered'  AND state IN ('pending', 'failed')"),
        ("requests", "subject_id = $1 AND (note_ciphertext IS NOT NULL OR corrections_ciphertext IS NOT NULL)"),
        ("consent_events", "subject_id = $1 AND proof ? 'user_agent_sha256'"),
    ):
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", subject_id)
    return counts
