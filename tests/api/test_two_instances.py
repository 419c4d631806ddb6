"""Two service processes on one database: a withdrawal through one is honoured by the other at once.

Each instance caches the consent state it has read; every committed change is
announced through PostgreSQL `LISTEN/NOTIFY`, and the other instance must drop
its cached entry before its next check (issue 5: within 100 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import bearer
from tests.processes import free_port, group_alive, service_env

WITHIN = 0.100  # seconds


class Instance:
    """`python -m consent serve` in its own session, so that it and its workers stop as one group."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:]) if self.log.exists() else ""

    async def wait_ready(self, http: httpx.AsyncClient, patience: float = 60.0) -> None:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"{self.url} exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{self.url}/ready", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.url} not ready after {patience:.0f} s:\n{self.tail()}")

    async def stop(self) -> None:
        """SIGINT, as Ctrl-C; whatever is still running afterwards is killed."""
        pgid = self.process.pid  # a session leader's pid is its group id
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                os.killpg(pgid, signal.SIGKILL)
                await self.process.wait()
        for _ in range(50):
            if not group_alive(pgid):
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def instances(env: dict[str, str], scratch: Path, count: int) -> AsyncIterator[list[Instance]]:
    started: list[Instance] = []
    try:
        for number in range(count):
            port = free_port()
            log = scratch / f"instance-{number}.log"
            metrics = scratch / f"metrics-{number}"
            metrics.mkdir()
            with log.open("wb") as out:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *("-m", "consent", "serve", "--no-demo", "--port", str(port), "--workers", "1"),
                    env=env | {"PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(Instance(process, port, log))
        yield started
    finally:
        await asyncio.gather(*(instance.stop() for instance in started))


async def create_key(env: dict[str, str], scope: str) -> str:
    """`consent apikeys create`, which prints the token alone on stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "consent", "apikeys", "create", "--name", f"two-instances-{scope}", "--scope", scope),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


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
            "subject": {"device_id": "d_7Hq2visitor"},
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
