"""Who hears of a request's change to a subject's data (GDPR Art. 19): every recipient that may hold it."""

from __future__ import annotations

from consent.ids import uuid7
from consent.runtime import Runtime
from consent.service.requests.orders import recipients_for
from policies import parse_policy
from tests.policies.samples import shop_text
from tests.service.test_housekeeping import record

# A fraud-scoring vendor: it receives order data under legitimate interest, with no choice asked.
_FRAUD_VENDOR = """
[recipients.fraud_vendor]
name = "Fraud scoring (processor)"
webhook_url = "https://fraud.example/hooks"
secret_env = "CONSENT_RECIPIENT_FRAUD_SECRET"
purposes = ["fraud_prevention"]
country = "DE"
third_party = false
"""


async def test_a_consent_purposes_recipient_once_granted_and_another_basis_recipient_always(runtime: Runtime) -> None:
    text = shop_text()
    at = text.index("[recipients.analytics_warehouse]")
    policy = parse_policy(text[:at] + _FRAUD_VENDOR.lstrip() + "\n" + text[at:], source="shop.toml")
    async with runtime.pool.acquire() as conn:
        assert await recipients_for(conn, policy, uuid7()) == ["fraud_vendor"]  # never chose anything
        granted = await record(runtime, "d_order_recipients-000000", "granted")  # analytics
        assert await recipients_for(conn, policy, granted) == ["analytics_warehouse", "fraud_vendor"]
        assert await recipients_for(conn, policy, granted, ["analytics"]) == ["analytics_warehouse"]
        assert await recipients_for(conn, policy, granted, ["marketing_email"]) == []  # never granted
