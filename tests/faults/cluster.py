"""A PostgreSQL server the test owns: stopped, started and killed at will, unlike the session's.

It runs pgserver's own binaries (a dependency of the service, so nothing to install) on a loopback
TCP port, in a data directory of its own. As root, PostgreSQL runs as pgserver's system user,
since it refuses to run as root. Durability settings are PostgreSQL's defaults: a test that kills
the server must find every acknowledged commit after the restart.

    cluster = Cluster.create(free_port())
    cluster.start()
    cluster.kill()   # SIGKILL to the postmaster and every backend
    cluster.start()  # crash recovery replays the WAL
    cluster.remove()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.processes import group_alive

__all__ = ["Cluster", "pg_dump"]

_SYSTEM_USER = "pgserver"  # pgserver creates it when it first runs as root


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 (its import reads the runtime dir)

    return str(POSTGRES_BIN_PATH / name)


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = port
        self._user = _SYSTEM_USER if os.geteuid() == 0 else None

    @classmethod
    def create(cls, port: int) -> Cluster:
        # Not under pytest's basetemp: its directories are private to root, and the server's user must reach it.
        root = Path(tempfile.mkdtemp(prefix="consent-faults-pg-"))
        root.chmod(0o755)
        cluster = cls(root, port)
        cluster.data.mkdir()
        if cluster._user is not None:
            entry = pwd.getpwnam(cluster._user)
            for path in (cluster.data, root):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "utf8", "--no-sync")
        return cluster

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [_bin(program), *args], user=self._user, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{program} failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}"

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        return ""

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, and new connections refused until `start`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        return None

    def kill(self) -> None:
        """SIGKILL to the postmaster and its backends at once (pg_ctl made the postmaster a group leader)."""
        pid = self.postmaster_pid()
        assert pid is not None, "the server is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not group_alive(pid), "PostgreSQL survived SIGKILL"

    def remove(self) -> None:
        pid = self.postmaster_pid()
        if pid is not None and group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def pg_dump(url: str) -> str:
    """`pg_dump` of the database at `url`, as SQL text: what a backup of it holds."""
    command = [_bin("pg_dump"), "--no-owner", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
