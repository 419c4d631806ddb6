"""Helpers for tests and benchmarks that start servers as separate processes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from consent.config import load_settings
from consent.key_material import load_key_material

__all__ = ["alive", "free_port", "group_alive", "group_cpu_seconds", "service_env"]


def service_env(database_url: str, home: Path, **settings: str) -> dict[str, str]:
    """The environment of `consent` processes on `database_url`, sharing development keys under
    `home` (made now, before any of them starts), with extra `CONSENT_*` settings."""
    load_key_material(load_settings({}, home=str(home)), announce=lambda _message: None)
    return os.environ | {
        "DATABASE_URL": database_url,
        "CONSENT_HOME": str(home),
        "CONSENT_ENV": "development",
        "CONSENT_HOST": "127.0.0.1",
        **settings,
    }


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
