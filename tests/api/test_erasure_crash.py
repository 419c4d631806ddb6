"""Erasures and exports survive `kill -9`: the service as a subprocess, killed while its jobs and deliveries run,
started again.

Every request must complete once in effect: executed once (one `request.executed` entry), each
erasure's orders received by the recipient (a webhook receiver in this test) with a valid signature
and the event id the request shows, completed once every order is acknowledged, nothing personal
left about any erased subject, and each access request's export built once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from consent.config import load_settings
from consent.key_material import load_key_material
from consent.store.pool import Connection
from tests.api.dsr_service import QUICK, RECORD, SECRET_ENV, orders_received, personal_rows, policy_file
from tests.helpers import bearer, eventually
from tests.processes import create_key, development_environment, instances
from tests.service.delivery.receiver import Receiver

SUBJECTS = 12
EXPORTS = 4  # access requests of other customers, built by the same job runner
NOTHING = dict.fromkeys(
    ("subject_keys", "personal_records", "subject_identifiers", "idempotency_keys", "outbox", "requests",
     "consent_events"),
    0,
)  # fmt: skip


async def customer(http: httpx.AsyncClient, url: str, token: str, number: int) -> str:
    email = f"customer{number}@example.jp"
    body = {
        "subject": {"email": email},
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "save_choices",
        "decisions": [
            {"purpose": "analytics", "status": "granted", "notice_version": 2},
            {"purpose": "marketing_email", "status": "granted", "notice_version": 1},
        ],
    }
    headers = bearer(token, **{"Idempotency-Key": f"k{number}", "User-Agent": "Mozilla/5.0"})
    recorded = await http.post(f"{url}/v1/consents", json=body, headers=headers)
    assert recorded.status_code == 201, recorded.text
    subject_id: str = recorded.json()["subject_id"]
    record = {**RECORD, "email": email, "user_id": f"u-{number}", "phone": None}
    stored = await http.put(f"{url}/v1/subjects/{subject_id}/record", json=record, headers=bearer(token))
    assert stored.status_code == 200, stored.text
    return subject_id


async def erase(http: httpx.AsyncClient, url: str, token: str, subject_id: str, request_type: str = "erasure") -> str:
    body = {
        "type": request_type,
        "subject": {"subject_id": subject_id},
        "jurisdiction": "gdpr",
        "verification": "trusted",
    }
    filed = await http.post(f"{url}/v1/requests", json=body, headers=bearer(token))
    assert filed.status_code == 201, filed.text
    assert filed.json()["state"] == "in_progress"
    request_id: str = filed.json()["id"]
    return request_id


async def detail(http: httpx.AsyncClient, url: str, token: str, request_id: str) -> dict[str, Any]:
    response = await http.get(f"{url}/v1/requests/{request_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_erasures_killed_mid_way_complete_once_after_a_restart_with_every_order_received_and_nothing_left(
    database_url: str, tmp_path: Path, conn: Connection
) -> None:
    home = tmp_path / "home"
    load_key_material(load_settings({"CONSENT_ENV": "development"}, home=str(home)), announce=lambda _message: None)
    with Receiver().serving() as receiver:
        receiver.delay = 0.05  # deliveries are in flight when the service is killed
        env = development_environment(
            home,
            **SECRET_ENV,
            DATABASE_URL=database_url,
            CONSENT_POLICY_FILE=str(policy_file(tmp_path, receiver.url, legal_obligation=False, manual=False)),
            CONSENT_JOB_LEASE_SECONDS="4",
            CONSENT_DELIVERY_TIMEOUT_MS="500",
            **{f"CONSENT_{name.upper()}": str(value) for name, value in QUICK.items()},
        )
        first_run, second_run = tmp_path / "first", tmp_path / "second"
        first_run.mkdir()
        second_run.mkdir()
        async with httpx.AsyncClient(timeout=10) as http:
            async with instances(env, first_run, 1) as (first,):
                token = await create_key(env, "dsr")
                await first.wait_ready(http)
                subjects = [await customer(http, first.url, token, n) for n in range(SUBJECTS)]
                readers = [await customer(http, first.url, token, SUBJECTS + n) for n in range(EXPORTS)]
                requests = await asyncio.gather(*(erase(http, first.url, token, s) for s in subjects))
                accesses = await asyncio.gather(*(erase(http, first.url, token, s, "access") for s in readers))
                await first.kill()
            unfinished = await conn.fetchval(
                "SELECT (SELECT count(*) FROM requests WHERE executed_at IS NULL)"
                " + (SELECT count(*) FROM outbox WHERE kind = 'erasure.ordered' AND state = 'pending')"
            )
            assert unfinished, "the kill came after all the work: nothing was left to recover"

            async with instances(env, second_run, 1) as (second,):
                await second.wait_ready(http)

                async def all_sent() -> bool:
                    for request_id in requests:
                        deliveries = (await detail(http, second.url, token, request_id))["deliveries"]
                        if len(deliveries) != 2 or any(d["state"] != "sent" for d in deliveries):
                            return False
                    return True

                # A delivery leased when the first process died waits for its lease to lapse (about 31 s).
                await eventually(all_sent, seconds=120, interval=0.2)
                shown = [await detail(http, second.url, token, request_id) for request_id in requests]
                for request in shown:
                    for delivery in request["deliveries"]:
                        ack = f"{second.url}/v1/requests/{request['id']}/deliveries/{delivery['recipient']}/ack"
                        assert (await http.post(ack, headers=bearer(token))).status_code == 200
                done = [await detail(http, second.url, token, request_id) for request_id in requests]

                async def exported() -> bool:
                    states = [(await detail(http, second.url, token, r))["state"] for r in accesses]
                    return states == ["completed"] * EXPORTS

                await eventually(exported, seconds=60, interval=0.2)

    assert [request["state"] for request in done] == ["completed"] * SUBJECTS
    for action in ("request.executed", "request.completed"):
        counts = await conn.fetch(
            "SELECT target->>'request_id' AS id, count(*) AS n FROM audit_log WHERE action = $1 GROUP BY 1", action
        )
        assert sorted((row["id"], row["n"]) for row in counts) == sorted((r, 1) for r in [*requests, *accesses]), action
    built = await conn.fetch(
        "SELECT target->>'request_id' AS id, count(*) AS n FROM audit_log WHERE action = 'export.built' GROUP BY 1"
    )
    assert sorted((row["id"], row["n"]) for row in built) == sorted((r, 1) for r in accesses)
    assert await conn.fetchval("SELECT count(*) FROM exports") == EXPORTS
    orders = orders_received(receiver.received, "erasure.ordered")  # each signature checked
    expected = {d["event_id"] for request in shown for d in request["deliveries"]}
    assert set(orders) == expected
    assert len(expected) == 2 * SUBJECTS
    for subject_id in subjects:
        assert await personal_rows(conn, subject_id) == NOTHING
