"""The embedded PostgreSQL stops with the last service using it, even after one was killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.helpers import eventually
from tests.processes import consent_serve, development_environment, postmaster_pid


def serve(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`consent serve` on the embedded PostgreSQL under `home`."""
    return consent_serve({k: v for k, v in development_environment(home).items() if k != "DATABASE_URL"}, log)


async def ready(process: subprocess.Popen[bytes], url: str) -> bool:
    assert process.poll() is None, "the service exited"
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/ready", timeout=2)).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_service_killed_with_sigkill_does_not_keep_the_next_ones_database_running(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "serve.log"
    killed, url = serve(home, log)
    try:
        await eventually(lambda: ready(killed, url), seconds=90, interval=0.2)
        database = postmaster_pid(home)
        assert database is not None
        os.killpg(killed.pid, signal.SIGKILL)  # no clean-up of any kind: its handle stays registered
        killed.wait()
        assert postmaster_pid(home) == database  # PostgreSQL runs in a session of its own and lives on

        second, url = serve(home, log)
        try:
            await eventually(lambda: ready(second, url), seconds=90, interval=0.2)
            assert postmaster_pid(home) == database  # the second service uses the same server
            os.killpg(second.pid, signal.SIGINT)
            await eventually(lambda: second.poll() is not None, seconds=60, interval=0.1)
        finally:
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
                second.wait()
        await eventually(lambda: postmaster_pid(home) is None, seconds=30, interval=0.1)
    finally:
        if (left := postmaster_pid(home)) is not None:
            os.kill(left, signal.SIGQUIT)
