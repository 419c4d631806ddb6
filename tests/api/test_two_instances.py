"""Two service processes on one database: a withdrawal through one is honoured by the other at once.

Each instance caches the consent state it has read; every committed change is
announced through PostgreSQL `LISTEN/NOTIFY`, and the other instance must drop
its cached entry before its next check (issue 5: within 100 ms).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import bearer
from tests.processes import Instance, create_key, instances, service_env

WITHIN = 0.100  # seconds


async def reason(http: httpx.AsyncClient, instance: Instance, token: str, subject_id: str) -> str:
    response = await http.post(
        f"{instance.url}/v1/check",
        json={"subject": {"subject_id": subject_id}, "purposes": ["analytics"]},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    found: str = response.json()["decisions"]["analytics"]["reason"]
    return found


async def test_a_withdrawal_through_one_instance_is_honoured_by_the_other_within_100_ms(
    database_url: str, tmp_path: Path
) -> None:
    # Both instances (and the CLI) share the development key files.
    env = service_env(database_url, tmp_path / "home")
    async with instances(env, tmp_path, 2) as (a, b), httpx.AsyncClient(timeout=10) as http:
        dsr, check = await asyncio.gather(create_key(env, "dsr"), create_key(env, "check"))
        await asyncio.gather(a.wait_ready(http), b.wait_ready(http))
        body: dict[str, Any] = {
            "subject": {"device_id": "d_7Hq2visitor-0000000000"},
            "property": "shop",
            "jurisdiction": "gdpr",
            "action": "api",
            "decisions": [{"purpose": "analytics", "status": "granted", "notice_version": 2}],
        }
        recorded = await http.post(f"{a.url}/v1/consents", json=body, headers=bearer(dsr))
        assert recorded.status_code == 201, recorded.text
        subject_id = recorded.json()["subject_id"]
        assert await reason(http, b, check, subject_id) == "granted"  # B now holds the state in its cache
        assert await reason(http, b, check, subject_id) == "granted"

        withdrawn = await http.delete(f"{a.url}/v1/subjects/{subject_id}/consents/analytics", headers=bearer(dsr))
        committed = time.monotonic()
        assert withdrawn.status_code == 200, withdrawn.text
        seen = await reason(http, b, check, subject_id)
        while seen != "withdrawn" and time.monotonic() - committed < 2:
            seen = await reason(http, b, check, subject_id)
        elapsed = time.monotonic() - committed
        assert seen == "withdrawn"
        assert elapsed < WITHIN, f"instance B still answered from its cache {elapsed * 1000:.0f} ms after the commit"
