"""Servers under test, each in its own process group: the consent service and the baseline app.

The service is started as a user starts it (`consent serve`, production server,
embedded PostgreSQL under a throw-away `CONSENT_HOME`, or `DATABASE_URL` when
set) and stopped with SIGINT, as Ctrl-C would. Stopping checks that nothing is
left behind: no process of the server's group, no embedded PostgreSQL.

>>> with consent_service(workers=2, scratch=Path("/tmp/x")) as service:
...     token = service.create_key("check")
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.bench._http import call
from tests.bench._scenarios import BENCH_ORIGIN, Tokens
from tests.processes import (
    alive,
    development_environment,
    free_port,
    group_alive,
    group_cpu_seconds,
    postmaster_pid,
)

__all__ = [
    "BenchError",
    "ConsentService",
    "ServerProcess",
    "attached_instance",
    "baseline_server",
    "checkout",
    "consent_command",
    "consent_service",
]

_ROOT = Path(__file__).resolve().parents[2]
_CREATED_KEY = re.compile(r"created \w+ key ([0-9a-f-]{36})")
# The scenarios load the service from one address, with one key, and create a subject per request:
# limits that hold a real site's visitors would hold them (recording on a fast machine passes the
# publishable key's 1,000 a second). The limiter still runs; only `_flood` measures its defaults.
_UNLIMITED = {
    "CONSENT_RATE_LIMIT_NETWORK_PER_SECOND": "1e9",
    "CONSENT_RATE_LIMIT_NETWORK_BURST": "1000000000",
    "CONSENT_RATE_LIMIT_KEY_PER_SECOND": "1e9",
    "CONSENT_RATE_LIMIT_KEY_BURST": "1000000000",
    "CONSENT_RATE_LIMIT_SECRET_KEY_PER_SECOND": "1e9",
    "CONSENT_RATE_LIMIT_SECRET_KEY_BURST": "1000000000",
    "CONSENT_NEW_SUBJECTS_PER_MINUTE": "1000000000",
}
_ERROR_LINE = re.compile(r'"level":\s*"(error|critical)"|Traceback|\[ERROR\]')


class BenchError(Exception):
    """A server would not start or stop cleanly, or a set-up step failed."""


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class ServerProcess:
    """A server started in a new session, so that it and its workers can be checked as one group."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path, port: int) -> None:
        self.name = name
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                command, cwd=_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server and its workers (its process group)."""
        return group_cpu_seconds(self._process.pid)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str, *, timeout: float = 120.0) -> None:
        """Poll `path` until it answers 200; fail early if the server exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if call(self.base_url, "GET", path, timeout=2.0)[0] == 200:
                    return
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready on {self.base_url}{path} after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, *, timeout: float = 30.0) -> list[str]:
        """SIGINT, as Ctrl-C; returns what had to be forced (empty when the stop was clean)."""
        problems = []
        pgid = self._process.pid  # the session leader's pid is its group id
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"{self.name} ignored SIGINT for {timeout:.0f} s; killed")
                os.killpg(pgid, signal.SIGKILL)
                self._process.wait()
        if not _wait(lambda: not group_alive(pgid), 5.0):
            problems.append(f"{self.name} left processes behind (group {pgid}); killed")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        return problems


@contextlib.contextmanager
def _stopped_at_exit(stop: Callable[[], list[str]]) -> Iterator[None]:
    """Run `stop` however the block ends; what it had to force fails the run (or annotates the error)."""
    try:
        yield
    except BaseException as exc:
        for problem in stop():
            exc.add_note(problem)
        raise
    if problems := stop():
        raise BenchError("; ".join(problems))


@contextlib.contextmanager
def baseline_server(kind: str, *, workers: int, scratch: Path) -> Iterator[ServerProcess]:
    """The bare Litestar app under `kind` (granian or uvicorn), ready to measure."""
    port = free_port()
    command = [sys.executable, "-m", "tests.bench._baseline_app", kind, "--port", str(port), "--workers", str(workers)]
    env = os.environ | {"PYTHONPATH": str(_ROOT)}
    server = ServerProcess(f"baseline ({kind})", command, env=env, log=scratch / f"baseline-{kind}.log", port=port)
    with _stopped_at_exit(server.stop):
        server.wait_ready("/json")
        yield server


class ConsentService:
    """The running service, and the `consent` CLI pointed at the same database."""

    def __init__(self, server: ServerProcess, env: dict[str, str], home: Path, command: list[str]) -> None:
        self.server = server
        self.base_url = server.base_url
        self.home = home
        self._env = env
        self._command = command
        self.key_ids: list[str] = []
        self.tokens: Tokens = _LazyTokens(self)  # by scope, each key created on first use

    def consent(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._command, *args], cwd=_ROOT, env=self._env, capture_output=True, text=True, check=False
        )

    def create_key(self, scope: str) -> str:
        """A new key of `scope` (a collect key allows BENCH_ORIGIN); its token."""
        origins = ["--origin", BENCH_ORIGIN] if scope == "collect" else []
        done = self.consent("apikeys", "create", "--name", "bench", "--scope", scope, *origins)
        token = done.stdout.strip()
        if done.returncode != 0 or not token or "\n" in token:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise BenchError(f"consent apikeys create --scope {scope} failed: {reason}")
        if found := _CREATED_KEY.search(done.stderr):
            self.key_ids.append(found.group(1))
        return token

    def log_errors(self, limit: int = 5) -> list[str]:
        """The first error lines the service logged (it logs JSON lines; the server plain text)."""
        text = self.server.log.read_text(errors="replace") if self.server.log.exists() else ""
        found = [line for line in text.splitlines() if _ERROR_LINE.search(line)]
        return found[:limit] + ([f"... and {len(found) - limit} more"] if len(found) > limit else [])

    def revoke_keys(self) -> None:
        """Revoke the keys this run created (they would outlive the run in an external database)."""
        for key_id in self.key_ids:
            self.consent("apikeys", "revoke", key_id)


class _LazyTokens(Mapping[str, str]):
    def __init__(self, service: ConsentService) -> None:
        self._service = service
        self._tokens: dict[str, str] = {}

    def __getitem__(self, scope: str) -> str:
        if scope not in self._tokens:
            self._tokens[scope] = self._service.create_key(scope)
        return self._tokens[scope]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)


@contextlib.contextmanager
def attached_instance(a: ConsentService, scratch: Path, name: str) -> Iterator[ConsentService]:
    """Another `consent serve --workers 1` on A's database and key files (same `CONSENT_HOME`, so it
    attaches to A's embedded server), on its own port; stopped (SIGINT) however the block ends."""
    metrics = scratch / f"metrics-{name}"
    metrics.mkdir()
    port = free_port()
    env = development_environment(a.home, PROMETHEUS_MULTIPROC_DIR=str(metrics), **_UNLIMITED)
    consent = consent_command(None)
    command = [*consent, "serve", "--no-demo", "--workers", "1", "--port", str(port)]
    log = scratch / f"consent-serve-{name}.log"
    server = ServerProcess(f"consent serve ({name})", command, env=env, log=log, port=port)
    try:
        server.wait_ready("/ready")
        yield ConsentService(server, env, a.home, consent)
    except BaseException as exc:
        for problem in server.stop():
            exc.add_note(problem)
        raise
    if problems := server.stop():
        raise BenchError("; ".join(problems))


def consent_command(source: Path | None) -> list[str]:
    """The `consent` CLI of this checkout, or of the one at `source` (run with this venv's Python)."""
    if source is not None:
        return [sys.executable, "-m", "consent"]
    beside = Path(sys.executable).with_name("consent")
    return [str(beside) if beside.exists() else "consent"]


def checkout(revision: str, into: Path) -> Path:
    """The project's files at a git `revision`, exported into `into` (no git state is changed)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=_ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        raise BenchError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _stop_postgres(pid: int) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT) if it hangs."""
    for sig in (signal.SIGINT, signal.SIGQUIT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait(lambda: not alive(pid), 10.0):
            return


@contextlib.contextmanager
def consent_service(
    *, workers: int, scratch: Path, source: Path | None = None, environment: Mapping[str, str] = _UNLIMITED
) -> Iterator[ConsentService]:
    """`consent serve --no-demo` with a throw-away CONSENT_HOME, ready (`/ready` is 200).

    With `source`, the service of that checkout (see `checkout`), run with this environment's packages;
    `environment` adds settings (by default, rate limits out of the scenarios' reach).
    """
    home = scratch / "consent-home"
    metrics = scratch / "metrics"
    metrics.mkdir(parents=True)
    port = free_port()
    # PROMETHEUS_MULTIPROC_DIR: else `consent serve` makes one under /tmp per start and leaves it there.
    env = development_environment(
        home, CONSENT_WORKERS=str(workers), PROMETHEUS_MULTIPROC_DIR=str(metrics), **environment
    )
    if source is not None:
        env["PYTHONPATH"] = str(source)  # before site-packages, so its `consent` is the one imported
    consent = consent_command(source)
    command = [*consent, "serve", "--no-demo", "--port", str(port)]
    server = ServerProcess("consent serve", command, env=env, log=scratch / "consent-serve.log", port=port)
    service = ConsentService(server, env, home, consent)

    def stop() -> list[str]:
        if os.environ.get("DATABASE_URL"):
            service.revoke_keys()
        problems = server.stop()
        if (pid := postmaster_pid(home)) is not None:
            problems.append(f"the embedded PostgreSQL (pid {pid}) outlived the service; stopped it")
            _stop_postgres(pid)
        return problems

    with _stopped_at_exit(stop):
        server.wait_ready("/ready")
        yield service
