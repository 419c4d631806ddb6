"""Delivering the outbox to recipients as signed webhooks, and their acknowledgements.

- `secrets.py`: each recipient's signing secret, from the variable its policy entry names;
- `webhooks.py`: the request a recipient receives (body, headers, signature);
- `deliveries.py`: leasing due messages, posting them, recording each outcome (audited), and the
  compliance calls `acknowledge` and `retry_failed`.
"""

from consent.service.delivery.deliveries import Deliveries, Delivery, OrderHook, acknowledge, retry_failed
from consent.service.delivery.secrets import RecipientSecrets, check_recipient_secrets
from consent.service.delivery.webhooks import WebhookRequest, webhook_request

__all__ = [
    "Deliveries",
    "Delivery",
    "OrderHook",
    "RecipientSecrets",
    "WebhookRequest",
    "acknowledge",
    "check_recipient_secrets",
    "retry_failed",
    "webhook_request",
]
