"""Helpers for tests and benchmarks that start servers as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from consent.config import load_settings
from consent.key_material import load_key_material

__all__ = [
    "alive",
    "consent_serve",
    "development_environment",
    "free_port",
    "group_alive",
    "group_cpu_seconds",
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
