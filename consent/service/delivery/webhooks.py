"""The HTTP request a recipient receives for one outbox message (see docs/webhooks.md).

    POST <webhook_url>
    Content-Type: application/json
    Consent-Event-Id: <the message id: the same on every retry, for de-duplication>
    Consent-Timestamp: <Unix seconds of this attempt>
    Consent-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>

    {"event_id": "...", "type": "consent.changed", "subject_id": "...", ...}

The body is the stored payload with `event_id` and `type`, encoded with sorted keys: the same
bytes on every attempt. It holds ids, purposes and statuses, never a personal value.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from consent.store.outbox import DeliveryRow
from crypto import sign_webhook

__all__ = ["WebhookRequest", "webhook_request"]

_encode = msgspec.json.Encoder(order="sorted").encode


class WebhookRequest(msgspec.Struct, kw_only=True, frozen=True):
    body: bytes
    headers: dict[str, str]


def webhook_request(message: DeliveryRow, secret: bytes, now: datetime) -> WebhookRequest:
    """The signed request for `message`, attempted at `now`."""
    body = _encode({**message.payload, "event_id": str(message.id), "type": message.kind})
    timestamp = str(int(now.timestamp()))
    return WebhookRequest(
        body=body,
        headers={
            "Content-Type": "application/json",
            "Consent-Event-Id": str(message.id),
            "Consent-Timestamp": timestamp,
            "Consent-Signature": sign_webhook(secret, timestamp, body),
        },
    )
