"""Database outage under load: PostgreSQL stopped, the service answers 503 at once; back, it recovers alone.

Writers and checkers keep the service busy on a PostgreSQL the test owns. While it is stopped, every
answer that needs the database is a 503 problem document with `Retry-After`, promptly (the client's
timeout bounds a hang, and a hang fails the test), never a 500, and `/ready` says unavailable. Once
it is started again the same service process records, checks and reports ready again with no restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.faults.cluster import Cluster
from tests.faults.conftest import service_env
from tests.faults.figures import FIGURES, personal
from tests.helpers import bearer, eventually
from tests.processes import Instance, create_key, free_port

REQUEST_TIMEOUT = 10.0  # seconds: an answer later than this is a hang
DURING_OUTAGE = 200  # requests sent while PostgreSQL is down


def _recording(device: str) -> dict[str, Any]:
    return {
        "subject": {"device_id": device},
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "api",
        "decisions": [{"purpose": "analytics", "status": "granted", "notice_version": 2}],
    }


async def _ask(http: httpx.AsyncClient, url: str, token: str, device: str, number: int) -> httpx.Response:
    """A recording, a check, a read of the subject's consents or the key's identity, by turns."""
    FIGURES.requests += 1
    headers = bearer(token)
    match number % 3:
        case 0:
            return await http.post(f"{url}/v1/consents", json=_recording(personal("device_id")), headers=headers)
        case 1:
            check = {"subject": {"device_id": device}, "purposes": ["analytics"]}
            return await http.post(f"{url}/v1/check", json=check, headers=headers)
        case _:
            return await http.get(f"{url}/v1/whoami", headers=headers)


async def test_a_stopped_database_is_answered_503_at_once_and_the_service_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    cluster = Cluster.create(free_port())
    try:
        cluster.start()
        env = service_env(tmp_path / "home", cluster.url())
        instance = Instance(env, free_port(), tmp_path / "service.log")
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            try:
                await instance.start()
                await instance.wait_ready(http)
                token = await create_key(env, "admin")
                device = personal("device_id")
                first = await http.post(f"{instance.url}/v1/consents", json=_recording(device), headers=bearer(token))
                assert first.status_code == 201, first.text
                pid = instance.process.pid if instance.process else None

                cluster.stop()
                FIGURES.faults += 1
                answers = await asyncio.gather(
                    *(_ask(http, instance.url, token, device, number) for number in range(DURING_OUTAGE))
                )
                FIGURES.server_errors += sum(a.status_code >= 500 and a.status_code != 503 for a in answers)
                for answer in answers:
                    # A check of a subject this instance holds in its cache may still be answered from it.
                    assert answer.status_code in (200, 503), (answer.status_code, answer.text[:300])
                    if answer.status_code == 503:
                        assert answer.headers["content-type"] == "application/problem+json"
                        assert answer.headers["retry-after"] == "1"
                        assert answer.json()["type"].endswith("/unavailable")
                assert [a.status_code for a in answers[0::3]] == [503] * len(answers[0::3])  # no write without it
                ready = await http.get(f"{instance.url}/ready")
                assert (ready.status_code, ready.json()["database"]) == (503, False)

                cluster.start()

                async def serves_again() -> bool:
                    again = await _ask(http, instance.url, token, device, 0)
                    return again.status_code == 201

                await eventually(serves_again, seconds=60, interval=0.2)
                assert (await http.get(f"{instance.url}/ready")).status_code == 200
                for number in range(30):  # every kind of request, on every connection of the pools
                    answer = await _ask(http, instance.url, token, device, number)
                    assert answer.status_code in (200, 201), answer.text[:300]
                assert instance.process is not None
                assert instance.process.pid == pid
                assert instance.process.returncode is None  # the same process, never restarted
            finally:
                await instance.stop()
    finally:
        cluster.remove()
