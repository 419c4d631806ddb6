"""The consent check (`POST /v1/check`, `POST /v1/check/batch`): decisions, reasons, and the cache."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.ids import uuid7
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.policy_versions import apply_policy, bundled_policy
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]

ALL_PURPOSES = {
    "strictly_necessary",
    "tax_records",
    "fraud_prevention",
    "analytics",
    "personalisation",
    "marketing_email",
    "advertising",
    "partner_sharing",
}
CONSENT_PURPOSES = {"analytics", "personalisation", "marketing_email", "advertising", "partner_sharing"}
DEVICE = {"device_id": "d_7Hq2visitor-0000000000"}


class Keys:
    """A backend that records (dsr) and a downstream service that checks (check)."""

    def __init__(self, record: str, check: str) -> None:
        self.record = record
        self.check = check


@pytest.fixture
async def keys(make_key: MakeKey) -> Keys:
    return Keys((await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token)


async def record(
    client: Client,
    keys: Keys,
    subject: dict[str, Any],
    decisions: dict[str, str],
    *,
    jurisdiction: str = "gdpr",
    action: str = "api",
) -> str:
    """Record `decisions` ({purpose: status}) at each purpose's current notice; returns the subject id."""
    notices = {"analytics": 2, "partner_sharing": 3}
    body = {
        "subject": subject,
        "property": "shop",
        "jurisdiction": jurisdiction,
        "action": action,
        "decisions": [
            {"purpose": purpose, "status": status, "notice_version": notices.get(purpose, 1)}
            for purpose, status in decisions.items()
        ],
    }
    response = await client.post("/v1/consents", json=body, headers=bearer(keys.record))
    assert response.status_code == 201, response.text
    subject_id: str = response.json()["subject_id"]
    return subject_id


async def check(client: Client, keys: Keys, subject: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/check", json={"subject": subject, **body}, headers=bearer(keys.check))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def reason(client: Client, keys: Keys, subject: dict[str, Any], purpose: str, **body: Any) -> str:
    answer = await check(client, keys, subject, purposes=[purpose], **body)
    assert list(answer["decisions"]) == [purpose]
    found: str = answer["decisions"][purpose]["reason"]
    return found


# --- reasons ------------------------------------------------------------------------------------


async def test_a_grant_is_allowed_until_its_expiry(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    answer = await check(client, keys, DEVICE, purposes=["analytics"])
    analytics = answer["decisions"]["analytics"]
    assert (analytics["allowed"], analytics["reason"]) == (True, "granted")
    assert analytics["expires_at"] is not None
    assert answer["policy_version"] >= 1


async def test_a_denial_is_denied(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"marketing_email": "denied"})
    answer = await check(client, keys, DEVICE, purposes=["marketing_email"])
    assert answer["decisions"]["marketing_email"] == {"allowed": False, "reason": "denied", "expires_at": None}


async def test_a_purpose_never_chosen_is_not_asked(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    assert await reason(client, keys, DEVICE, "personalisation") == "not_asked"


async def test_a_withdrawn_grant_is_withdrawn(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    await record(client, keys, DEVICE, {"analytics": "denied"}, action="withdraw")
    assert await reason(client, keys, DEVICE, "analytics") == "withdrawn"


async def test_a_grant_older_than_the_purposes_lifetime_is_expired(
    client: Client, keys: Keys, conn: Connection
) -> None:
    subject_id = await record(client, keys, DEVICE, {"analytics": "granted"})
    await conn.execute(
        "UPDATE consent_state SET recorded_at = now() - interval '400 days' WHERE subject_id = $1",
        UUID(subject_id),
    )
    answer = await check(client, keys, DEVICE, purposes=["analytics"])
    assert answer["decisions"]["analytics"] == {"allowed": False, "reason": "expired", "expires_at": None}


async def test_a_grant_under_a_notice_below_the_minimum_is_notice_outdated(
    client: Client, keys: Keys, conn: Connection
) -> None:
    subject_id = await record(client, keys, DEVICE, {"partner_sharing": "granted"})
    # As if granted before the policy raised partner_sharing's minimum notice to version 3.
    await conn.execute("UPDATE consent_state SET notice_version = 2 WHERE subject_id = $1", UUID(subject_id))
    assert await reason(client, keys, DEVICE, "partner_sharing") == "notice_outdated"


async def test_an_unknown_subject_is_not_asked_for_every_consent_purpose(client: Client, keys: Keys) -> None:
    answer = await check(client, keys, {"device_id": "d_never_seen-00000000000"})
    assert answer["subject_id"] is None
    assert answer["jurisdiction"] == "default"
    decisions = answer["decisions"]
    assert set(decisions) == ALL_PURPOSES
    for purpose in CONSENT_PURPOSES:
        assert decisions[purpose] == {"allowed": False, "reason": "not_asked", "expires_at": None}, purpose
    assert decisions["strictly_necessary"] == {"allowed": True, "reason": "necessary", "expires_at": None}
    assert decisions["tax_records"]["allowed"] is True
    assert decisions["fraud_prevention"] == {"allowed": True, "reason": "legitimate_interest", "expires_at": None}


async def test_an_unknown_subject_id_is_not_asked_too(client: Client, keys: Keys) -> None:
    answer = await check(client, keys, {"subject_id": str(uuid7())}, purposes=["analytics"])
    assert answer["decisions"]["analytics"]["reason"] == "not_asked"


async def test_an_unknown_subject_id_is_answered_as_unknown(client: Client, keys: Keys) -> None:
    answer = await check(client, keys, {"subject_id": str(uuid7())}, purposes=["analytics"])
    assert answer["subject_id"] is None


# --- naming the subject -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject", [{"device_id": "d_7Hq2visitor-0000000000"}, {"user_id": "u-42"}], ids=["device_id", "user_id"]
)
async def test_a_subject_is_found_by_the_identifier_it_was_recorded_with(
    client: Client, keys: Keys, subject: dict[str, str]
) -> None:
    subject_id = await record(client, keys, subject, {"analytics": "granted"})
    answer = await check(client, keys, subject, purposes=["analytics"])
    assert answer["subject_id"] == subject_id
    assert answer["decisions"]["analytics"]["reason"] == "granted"


@pytest.mark.parametrize(
    "subject", [{"email": "hanako.yamada@example.jp"}, {"phone": "+81 90-1234-5678"}], ids=["email", "phone"]
)
async def test_a_check_by_email_or_phone_answers_no_subject_id_to_a_check_key(
    client: Client, keys: Keys, make_key: MakeKey, subject: dict[str, str]
) -> None:
    subject_id = str(uuid7())
    stored = await client.put(f"/v1/subjects/{subject_id}/record", json=subject, headers=bearer(keys.record))
    assert stored.status_code == 201, stored.text
    answer = await check(client, keys, subject, purposes=["analytics"])
    assert answer["subject_id"] is None  # a vendor cannot turn a list of emails into customers' ids
    batch = await client.post(
        "/v1/check/batch", json={"checks": [{"subject": subject}, {"subject": DEVICE}]}, headers=bearer(keys.check)
    )
    assert [result["subject_id"] for result in batch.json()["results"]] == [None, None]
    admin = Keys(keys.record, (await make_key(Scope.ADMIN)).token)  # a compliance key may resolve identifiers
    assert (await check(client, admin, subject, purposes=["analytics"]))["subject_id"] == subject_id
    answers = await client.post("/v1/check/batch", json={"checks": [{"subject": subject}]}, headers=bearer(admin.check))
    assert answers.json()["results"][0]["subject_id"] == subject_id


async def test_identifier_checks_are_counted_per_key_never_per_identifier(
    client: Client, keys: Keys, make_key: MakeKey
) -> None:
    email = {"email": "counted.person@example.jp"}
    await check(client, keys, email)
    batch = {"checks": [{"subject": email}, {"subject": {"phone": "+81 90-1234-5678"}}, {"subject": DEVICE}]}
    assert (await client.post("/v1/check/batch", json=batch, headers=bearer(keys.check))).status_code == 200
    whoami = (await client.get("/v1/whoami", headers=bearer(keys.check))).json()
    metrics = (await client.get("/metrics", headers=bearer((await make_key(Scope.METRICS)).token))).text
    counted = {
        kind: f'consent_identifier_checks_total{{key="{whoami["id"]}",kind="{kind}"}}'
        for kind in ("email", "phone", "device_id")
    }
    assert f"{counted['email']} 2.0" in metrics
    assert f"{counted['phone']} 1.0" in metrics
    assert f"{counted['device_id']} 1.0" in metrics
    assert not any(value in metrics for value in ("counted.person", "+81 90-1234-5678", "819012345678"))


async def test_an_email_is_found_whatever_its_case_and_spacing(client: Client, keys: Keys, make_key: MakeKey) -> None:
    subject_id = await record(client, keys, {"email": "hanako.yamada@example.jp"}, {"analytics": "granted"})
    admin = Keys(keys.record, (await make_key(Scope.ADMIN)).token)
    answer = await check(client, admin, {"email": "  Hanako.Yamada@Example.JP "}, purposes=["analytics"])
    assert answer["subject_id"] == subject_id


async def test_a_subject_is_found_by_its_id(client: Client, keys: Keys) -> None:
    subject_id = await record(client, keys, DEVICE, {"analytics": "granted"})
    answer = await check(client, keys, {"subject_id": subject_id}, purposes=["analytics"])
    assert answer["subject_id"] == subject_id
    assert answer["decisions"]["analytics"]["allowed"] is True


async def test_naming_the_subject_twice_is_422(client: Client, keys: Keys) -> None:
    response = await client.post(
        "/v1/check",
        json={"subject": {"device_id": "d_1-00000000000000000000", "user_id": "u-1"}},
        headers=bearer(keys.check),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "subject"


# --- purposes and jurisdiction ------------------------------------------------------------------


async def test_every_purpose_is_decided_when_none_is_named(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    answer = await check(client, keys, DEVICE)
    assert set(answer["decisions"]) == ALL_PURPOSES


async def test_an_unknown_purpose_is_422_naming_its_position(client: Client, keys: Keys) -> None:
    response = await client.post(
        "/v1/check",
        json={"subject": DEVICE, "purposes": ["analytics", "telepathy"]},
        headers=bearer(keys.check),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "purposes[1]"


async def test_the_jurisdiction_defaults_to_the_subjects_last_recorded_one(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"marketing_email": "denied"}, jurisdiction="ccpa")
    answer = await check(client, keys, DEVICE, purposes=["analytics"])
    assert answer["jurisdiction"] == "ccpa"
    assert answer["decisions"]["analytics"] == {"allowed": True, "reason": "not_opted_out", "expires_at": None}
    under_gdpr = await check(client, keys, DEVICE, purposes=["analytics"], jurisdiction="gdpr")
    assert under_gdpr["jurisdiction"] == "gdpr"
    assert under_gdpr["decisions"]["analytics"]["reason"] == "not_asked"


async def test_a_gpc_signal_denies_sale_and_sharing_under_ccpa(client: Client, keys: Keys) -> None:
    await record(client, keys, DEVICE, {"advertising": "granted", "analytics": "granted"}, jurisdiction="ccpa")
    answer = await check(client, keys, DEVICE, gpc=True)
    decisions = answer["decisions"]
    assert decisions["advertising"] == {"allowed": False, "reason": "gpc_opt_out", "expires_at": None}
    assert decisions["partner_sharing"]["reason"] == "gpc_opt_out"
    assert decisions["analytics"]["allowed"] is True
    without = await check(client, keys, DEVICE, purposes=["advertising"])
    assert without["decisions"]["advertising"] == {"allowed": True, "reason": "not_opted_out", "expires_at": None}


# --- the cache ----------------------------------------------------------------------------------


async def test_a_withdrawal_is_seen_by_the_next_check_although_the_state_was_cached(
    client: Client, app: Litestar, keys: Keys
) -> None:
    subject_id = await record(client, keys, DEVICE, {"analytics": "granted"})
    assert await reason(client, keys, DEVICE, "analytics") == "granted"
    runtime: Runtime = app.state.runtime
    assert runtime.states.cached(UUID(subject_id)) is not None
    await record(client, keys, DEVICE, {"analytics": "denied"}, action="withdraw")
    assert await reason(client, keys, DEVICE, "analytics") == "withdrawn"


async def test_a_device_first_checked_unknown_is_found_once_it_records(client: Client, keys: Keys) -> None:
    assert (await check(client, keys, DEVICE))["subject_id"] is None
    subject_id = await record(client, keys, DEVICE, {"analytics": "granted"})
    answer = await check(client, keys, DEVICE, purposes=["analytics"])
    assert answer["subject_id"] == subject_id
    assert answer["decisions"]["analytics"]["reason"] == "granted"


async def test_a_recording_keeps_the_remembered_misses_of_other_devices(
    client: Client, app: Litestar, keys: Keys
) -> None:
    # An undecided visitor's checks stay answered from memory while other visitors make choices.
    undecided = {"device_id": "d_7Hq2undecided-00000000"}
    assert (await check(client, keys, undecided))["subject_id"] is None
    runtime: Runtime = app.state.runtime
    remembered = runtime.subjects.identifier("device_id", undecided["device_id"])
    assert runtime.subjects.cached(remembered) == (True, None)
    await record(client, keys, DEVICE, {"analytics": "granted"})
    await asyncio.sleep(0.2)  # the new device's notification has come back to this process too
    assert runtime.subjects.cached(remembered) == (True, None)


# --- batch --------------------------------------------------------------------------------------


async def test_a_batch_answers_in_the_order_asked(client: Client, keys: Keys) -> None:
    granted = await record(client, keys, {"user_id": "u-1"}, {"analytics": "granted"})
    denied = await record(client, keys, {"user_id": "u-2"}, {"personalisation": "denied"})
    checks = [
        {"subject": {"user_id": "u-2"}, "purposes": ["personalisation"]},
        {"subject": {"device_id": "d_unknown-00000000000000"}, "purposes": ["analytics"]},
        {"subject": {"user_id": "u-1"}, "purposes": ["analytics"]},
        {"subject": {"subject_id": granted}, "purposes": ["analytics", "marketing_email"]},
    ]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["subject_id"] for r in results] == [denied, None, granted, granted]
    assert [[d["reason"] for d in r["decisions"].values()] for r in results] == [
        ["denied"],
        ["not_asked"],
        ["granted"],
        ["granted", "not_asked"],
    ]


async def test_a_batch_of_1000_checks_is_answered(client: Client, keys: Keys) -> None:
    checks = [{"subject": {"device_id": f"d_{i:0>22}"}, "purposes": ["analytics"]} for i in range(1000)]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1000


async def test_a_batch_of_1001_checks_is_422(client: Client, keys: Keys) -> None:
    checks = [{"subject": {"device_id": f"d_{i:0>22}"}, "purposes": ["analytics"]} for i in range(1001)]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 422
    assert response.json()["field"] == "checks"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"subject": DEVICE, "purposes": ["analytics", "telepathy"]}, "checks[2].purposes[1]"),
        ({"subject": {"device_id": "d_1-00000000000000000000", "user_id": "u-1"}}, "checks[2].subject"),
        ({"subject": {"email": "hanako-at-example.jp"}}, "checks[2].subject.email"),
    ],
    ids=["unknown purpose", "two identifiers", "invalid email"],
)
async def test_an_error_in_a_batch_names_the_check(client: Client, keys: Keys, bad: dict[str, Any], field: str) -> None:
    checks = [{"subject": DEVICE}, {"subject": {"user_id": "u-1"}}, bad]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert "hanako" not in response.text


async def test_a_subject_named_again_in_a_batch_is_answered_for_each_question(client: Client, keys: Keys) -> None:
    subject_id = await record(client, keys, DEVICE, {"analytics": "granted", "advertising": "granted"})
    checks = [
        {"subject": DEVICE, "purposes": ["analytics"]},
        {"subject": {"device_id": DEVICE["device_id"]}, "purposes": ["analytics"], "jurisdiction": "ccpa"},
        {"subject": DEVICE, "purposes": ["advertising"], "jurisdiction": "ccpa", "gpc": True},
        {"subject": {"subject_id": subject_id}, "purposes": ["analytics", "personalisation"]},
        {"subject": DEVICE, "purposes": ["analytics"]},
    ]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["subject_id"] for r in results] == [subject_id] * 5
    assert [r["jurisdiction"] for r in results] == ["gdpr", "ccpa", "ccpa", "gdpr", "gdpr"]
    assert [{p: d["reason"] for p, d in r["decisions"].items()} for r in results] == [
        {"analytics": "granted"},
        {"analytics": "not_opted_out"},
        {"advertising": "gpc_opt_out"},
        {"analytics": "granted", "personalisation": "not_asked"},
        {"analytics": "granted"},
    ]


async def test_a_withdrawal_is_seen_by_the_next_batch_although_its_decisions_were_memoised(
    client: Client, keys: Keys
) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    checks = [{"subject": DEVICE, "purposes": ["analytics"]}] * 2
    for _ in range(2):
        response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
        assert [r["decisions"]["analytics"]["reason"] for r in response.json()["results"]] == ["granted"] * 2
    await record(client, keys, DEVICE, {"analytics": "denied"}, action="withdraw")
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert [r["decisions"]["analytics"]["reason"] for r in response.json()["results"]] == ["withdrawn"] * 2


async def test_a_batch_after_a_policy_change_is_decided_under_the_new_policy(
    client: Client, app: Litestar, keys: Keys, conn: Connection
) -> None:
    await record(client, keys, DEVICE, {"analytics": "granted"})
    checks = [{"subject": DEVICE, "purposes": ["analytics"]}, {"subject": {"device_id": "d_unknown-00000000000000"}}]
    before = (await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))).json()
    assert before["results"][0]["decisions"]["analytics"]["reason"] == "granted"
    assert before["results"][1]["decisions"]["analytics"]["reason"] == "not_asked"
    text, source = bundled_policy()
    # Grants of analytics under notices before version 3 no longer count.
    stricter = text.replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2 only clarified the wording",
        "notice_version = 3\nmin_notice_version = 3",
    )
    assert stricter != text
    await apply_policy(conn, stricter, source=source, actor="test")
    runtime: Runtime = app.state.runtime
    version = before["results"][0]["policy_version"]
    for _ in range(500):  # the instance reloads its policy on the NOTIFY; wait for it, not a fixed time
        if runtime.policy.current.version > version:
            break
        await asyncio.sleep(0.01)
    after = (await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))).json()
    assert [r["policy_version"] for r in after["results"]] == [version + 1] * 2
    assert after["results"][0]["decisions"]["analytics"]["reason"] == "notice_outdated"


async def test_a_batch_names_a_subject_error_before_a_purpose_error_of_an_earlier_check(
    client: Client, keys: Keys
) -> None:
    checks = [
        {"subject": DEVICE, "purposes": ["telepathy"]},
        {"subject": {"device_id": "d_1-00000000000000000000", "user_id": "u-1"}},
    ]
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    assert response.status_code == 422
    assert response.json()["field"] == "checks[1].subject"


class StatementLog:
    """The SQL statements every connection of this process runs, while recording."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def touching(self, *tables: str) -> list[str]:
        return [s for s in self.statements if any(table in s for table in tables)]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> StatementLog:
    log = StatementLog()
    for name in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
        original = getattr(asyncpg.Connection, name)

        def logged(self: Any, query: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            log.statements.append(query)
            return _original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, name, logged)
    return log


async def test_a_batch_of_uncached_subjects_takes_one_database_round_trip(
    client: Client, app: Litestar, keys: Keys, statements: StatementLog
) -> None:
    ids = [await record(client, keys, {"device_id": f"d_{i:0>22}"}, {"analytics": "granted"}) for i in range(40)]
    await check(client, keys, {"device_id": "d_warm_up_the_key_cache"})
    runtime: Runtime = app.state.runtime
    runtime.states.clear()
    runtime.subjects.clear()
    runtime.data_keys.clear()
    checks = [{"subject": {"device_id": f"d_{i:0>22}"}, "purposes": ["analytics"]} for i in range(40)]
    checks += [{"subject": {"subject_id": ids[i]}} for i in range(0, 40, 4)]
    checks += [{"subject": {"device_id": f"d_unknown_{i:0>14}"}} for i in range(10)]
    statements.statements.clear()
    response = await client.post("/v1/check/batch", json={"checks": checks}, headers=bearer(keys.check))
    consent_statements = statements.touching("consent_state", "subject_identifiers", "subject_keys", "subject_facts")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["subject_id"] for r in results[:40]] == ids
    assert all(r["decisions"]["analytics"]["reason"] == "granted" for r in results[:50])
    assert all(r["subject_id"] is None for r in results[50:])
    assert len(consent_statements) == 1, consent_statements
