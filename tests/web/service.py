"""A real `consent serve --demo` for browser tests and the screenshot script: its own database and home."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import msgspec

from tests.helpers import with_database
from tests.processes import development_environment, free_port, group_alive

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Service", "fresh_database", "running_service"]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home, which a closed network answers slowly.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
_names = itertools.count()


class Service:
    """A running service: its URL, its demo keys, and a way to apply a policy file to it."""

    def __init__(self, url: str, env: dict[str, str], log: Path) -> None:
        self.url = url
        self.env = env
        self.log = log
        keys = msgspec.json.decode((Path(env["CONSENT_HOME"]) / "demo-keys.json").read_bytes(), type=dict[str, str])
        self.collect_key = keys["collect"]
        self.check_key = keys["check"]

    def check(self, device_id: str, *purposes: str) -> dict[str, str]:
        """The reason the check API gives for each purpose, for this device."""
        response = httpx.post(
            f"{self.url}/v1/check",
            json={"subject": {"device_id": device_id}, "purposes": list(purposes)},
            headers={"Authorization": f"Bearer {self.check_key}"},
        )
        response.raise_for_status()
        return {p: d["reason"] for p, d in response.json()["decisions"].items()}

    def subject_of(self, device_id: str) -> str:
        response = httpx.post(
            f"{self.url}/v1/check",
            json={"subject": {"device_id": device_id}, "purposes": []},
            headers={"Authorization": f"Bearer {self.check_key}"},
        )
        response.raise_for_status()
        subject: str = response.json()["subject_id"]
        return subject

    def changed_subjects(self, purpose: str) -> set[str]:
        """The subjects whose choice for `purpose` the change feed shows a downstream system."""
        headers = {"Authorization": f"Bearer {self.check_key}"}
        changes = httpx.get(f"{self.url}/v1/changes", params={"limit": 1000}, headers=headers).json()["changes"]
        return {c["subject_id"] for c in changes if c["purpose"] == purpose}

    def apply_policy(self, path: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "consent", "policies", "apply", str(path)],
            env=self.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip


def fresh_database(admin_url: str, template: str) -> str:
    """A new database copied from the migrated template; its URL."""
    name = f"web_{os.getpid()}_{next(_names)}"

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return with_database(admin_url, name)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, as Ctrl-C; whatever still runs afterwards is killed (the group: the service and its worker)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for _ in range(50):
        if not group_alive(process.pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_service(database_url: str | None, scratch: Path) -> Iterator[Service]:
    """`consent serve --demo` on a free loopback port, ready, with its demo keys; stopped afterwards.

    Without a database URL the service starts its own embedded PostgreSQL in `scratch`.
    """
    port = free_port()
    env = development_environment(scratch / "home", PROMETHEUS_MULTIPROC_DIR=str(scratch))
    env.pop("DATABASE_URL", None)
    env |= {"DATABASE_URL": database_url} if database_url else {}
    log = scratch / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "consent", "serve", "--demo", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the service did not start:\n{log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield Service(url, env, log)
    finally:
        _stop(process)
