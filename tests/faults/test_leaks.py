"""No leaks: after real traffic, no plaintext personal value is in a `pg_dump`, the service's log or `/metrics`.

The traffic uses every kind of personal value the API takes (device ids, user ids, emails, phones, a
personal record's name, address and a free-text note, a request's identifier), accepted and refused,
each carrying the suite's marker (`tests/faults/figures.py`), so the scan is exact. The crash test
scans its own database and log the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.faults.cluster import pg_dump
from tests.faults.conftest import service_env
from tests.faults.figures import FIGURES, leaks, personal
from tests.helpers import bearer
from tests.processes import Instance, create_key, free_port


async def test_no_personal_value_reaches_a_dump_the_logs_or_the_metrics(database_url: str, tmp_path: Path) -> None:
    env = service_env(tmp_path / "home", database_url)
    instance = Instance(env, free_port(), tmp_path / "service.log")
    email, phone, user_id, device_id = personal("email"), personal("phone"), personal("user_id"), personal("device_id")
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            await instance.start()
            token = await create_key(env, "admin")
            await instance.wait_ready(http)
            base, headers = instance.url, bearer(token)

            async def send(method: str, path: str, body: Any, *expected: int) -> dict[str, Any]:
                FIGURES.requests += 1
                response = await http.request(method, f"{base}{path}", json=body, headers=headers)
                FIGURES.server_errors += response.status_code >= 500
                assert response.status_code in expected, (path, response.status_code, response.text[:300])
                answer: dict[str, Any] = response.json() if response.content else {}
                return answer

            choice = {"property": "shop", "jurisdiction": "gdpr", "action": "api",
                      "decisions": [{"purpose": "analytics", "status": "granted", "notice_version": 2}]}  # fmt: skip
            for subject in ({"user_id": user_id}, {"device_id": device_id}, {"email": email}):
                recorded = await send("POST", "/v1/consents", {"subject": subject, **choice}, 201)
            record = {"name": personal("name"), "email": email, "phone": phone, "address": personal("address"),
                      "attributes": {"note": personal("note")}}  # fmt: skip
            await send("PUT", f"/v1/subjects/{recorded['subject_id']}/record", record, 200, 201)
            await send("GET", f"/v1/subjects/{recorded['subject_id']}/record", None, 200)
            for subject in ({"email": email}, {"phone": phone}, {"user_id": user_id}):
                await send("POST", "/v1/check", {"subject": subject, "purposes": ["analytics"]}, 200)
                await send("POST", "/v1/subjects/lookup", subject, 200, 404)
            request = {"type": "access", "subject": {"email": email}, "jurisdiction": "gdpr", "verification": "trusted"}
            await send("POST", "/v1/requests", request, 201, 200)
            # Refused, with the personal value in the body: the problem names the field, never the value.
            bad_email = {"subject": {"email": f"{personal('email')}@@"}, **choice}
            await send("POST", "/v1/consents", bad_email, 422)
            await send("POST", "/v1/check", {"subject": {"phone": personal("note")}, "purposes": ["analytics"]}, 422)
            await send("POST", "/v1/consents", {"subject": {"device_id": personal("device_id")}, "property": 7}, 422)

            metrics = (await http.get(f"{base}/metrics")).text
        finally:
            await instance.stop()
    places = {
        "pg_dump": pg_dump(database_url),
        "service log": instance.log.read_text(errors="replace"),
        "/metrics": metrics,
    }
    found = leaks(FIGURES.personal_values, places)
    assert not found, found[:10]
