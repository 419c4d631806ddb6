"""Helpers for tests and benchmarks that start servers as separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx

from consent.config import load_settings
from consent.key_material import load_key_material

__all__ = [
    "Instance",
    "alive",
    "consent_serve",
    "create_key",
    "development_environment",
    "free_port",
    "group_alive",
    "group_cpu_seconds",
    "instances",
    "postmaster_pid",
    "service_env",
]


def development_environment(home: Path, **variables: str) -> dict[str, str]:
    """This process's environment for a `consent` command run as a development service on loopback under `home`.

    Development is said explicitly: without `CONSENT_ENV` the service runs as production and refuses to
    start without configured keys. `variables` (`CONSENT_PORT="9000"`) are added last.
    """
    service = {"CONSENT_HOME": str(home), "CONSENT_ENV": "development", "CONSENT_HOST": "127.0.0.1"}
    return os.environ | service | variables


def service_env(database_url: str, home: Path, **settings: str) -> dict[str, str]:
    """The environment of `consent` processes on `database_url`, sharing development keys under
    `home` (made now, before any of them starts), with extra `CONSENT_*` settings."""
    env = development_environment(home, DATABASE_URL=database_url, **settings)
    load_key_material(load_settings(env), announce=lambda _message: None)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process (e.g. PostgreSQL run as its own user): it exists
    return True


def group_cpu_seconds(pgid: int) -> float:
    """User plus system CPU time of the live processes in process group `pgid` (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        # After "pid (comm)": state ppid pgrp ... utime (12th) stime (13th).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def postmaster_pid(home: Path) -> int | None:
    """The pid of the embedded PostgreSQL under `home` if it is running (its postmaster.pid names it)."""
    pid_file = home / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def consent_serve(env: dict[str, str], log: Path, *, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """`consent serve --no-demo` on a free loopback port, in a process group of its own (stop it with
    `os.killpg`), its output appended to `log`; returns the process and the service's base URL."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "consent", "serve", "--no-demo", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


class Instance:
    """`python -m consent serve` in its own session, so that it and its workers stop (or die) as one group.

    The same instance can be killed and started again, on the same port and appending to the same log,
    as an orchestrator restarts a crashed service.
    """

    def __init__(self, env: Mapping[str, str], port: int, log: Path, *, workers: int = 1) -> None:
        self.env = dict(env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.workers = workers
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "consent", "serve", "--no-demo", "--port", str(self.port), "--workers", str(self.workers)),
                env=self.env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:]) if self.log.exists() else ""

    async def wait_ready(self, http: httpx.AsyncClient, patience: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"{self.url} exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{self.url}/ready", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.url} not ready after {patience:.0f} s:\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL to the whole group, as the kernel's OOM killer or a lost machine would end it."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        await self._until_group_gone(self.process.pid)

    async def stop(self) -> None:
        """SIGINT, as Ctrl-C; whatever is still running afterwards is killed."""
        if self.process is None:
            return
        pgid = self.process.pid  # a session leader's pid is its group id
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                os.killpg(pgid, signal.SIGKILL)
                await self.process.wait()
        await self._until_group_gone(pgid)

    @staticmethod
    async def _until_group_gone(pgid: int) -> None:
        for _ in range(50):
            if not group_alive(pgid):
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def instances(env: Mapping[str, str], scratch: Path, count: int) -> AsyncIterator[list[Instance]]:
    """`count` started instances, each with its own metrics directory; all stopped afterwards."""
    started: list[Instance] = []
    try:
        for number in range(count):
            metrics = scratch / f"metrics-{number}"
            metrics.mkdir()
            instance = Instance(
                {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, free_port(), scratch / f"instance-{number}.log"
            )
            started.append(instance)
            await instance.start()
        yield started
    finally:
        await asyncio.gather(*(instance.stop() for instance in started))


async def create_key(env: Mapping[str, str], scope: str, *origins: str) -> str:
    """`consent apikeys create`, which prints the token alone on stdout."""
    flags = [arg for origin in origins for arg in ("--origin", origin)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "consent", "apikeys", "create", "--name", f"test-{scope}", "--scope", scope, *flags),
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()
