"""The receivers' example in docs/webhooks.md runs, and accepts exactly what the service sends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from consent.service.delivery import webhook_request
from consent.store.outbox import DeliveryRow

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = b"whsec_documented"


@pytest.fixture(scope="module")
def documented() -> dict[str, Any]:
    """The namespace the doc's Python snippet defines."""
    snippet = DOC.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "webhook_example"}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def sent(now: datetime) -> tuple[dict[str, str], bytes]:
    message = DeliveryRow(
        id=UUID("01939e3c-6f2a-7c41-9d0e-4b1f2a3c4d5e"), recipient="analytics_warehouse",
        subject_id=UUID("01939e3c-6f28-7b00-9a00-1a2b3c4d5e6f"), kind="consent.changed",
        payload={"type": "consent.changed", "subject_id": "01939e3c-6f28-7b00-9a00-1a2b3c4d5e6f", "changes": []},
        created_at=now, state="pending", attempts=1, next_attempt_at=now, delivered_at=None, acknowledged_at=None,
        last_error=None,
    )  # fmt: skip
    request = webhook_request(message, SECRET, now)
    return {name.lower(): value for name, value in request.headers.items()}, request.body


def test_the_documented_verifier_accepts_what_the_service_sends(documented: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    headers, body = sent(now)
    event = documented["verify"](SECRET, headers, body, now=now.timestamp())
    assert event["event_id"] == headers["consent-event-id"]
    assert event["type"] == "consent.changed"


@pytest.mark.parametrize(
    ("secret", "tamper", "delay"),
    [(b"another secret", False, 0), (SECRET, True, 0), (SECRET, False, 301)],
    ids=["wrong secret", "changed body", "stale"],
)
def test_the_documented_verifier_refuses_forgeries_and_replays(
    documented: dict[str, Any], secret: bytes, tamper: bool, delay: int
) -> None:
    now = datetime.now(UTC)
    headers, body = sent(now)
    if tamper:
        body = body.replace(b"consent.changed", b"consent.changes")
    with pytest.raises(documented["InvalidWebhook"]):
        documented["verify"](secret, headers, body, now=now.timestamp() + delay)
