"""The served OpenAPI document holds against the live service, as a new user's client generator would try it.

Starts `consent serve` as its own process on a free loopback port, creates a key
of each scope with the CLI, and runs schemathesis with every check against
`/schema/openapi.json` once per key, against the one service (three runs at
once, then the admin run, which revokes keys): any undocumented status or media type, any schema-valid body refused
or schema-violating body accepted, any 5xx fails. `schemathesis.toml` beside
this file names the few operations where a 422 to a schema-valid body is the
correct answer, and why. The service runs with long polls capped at a second
(`CONSENT_FEED_MAX_WAIT`, which the document states), so a generated `wait`
never holds the run up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, service_env

ORIGIN = "https://shop.example"
EXAMPLES = 8
SCHEMATHESIS = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCOPES = ("check", "dsr", "admin", "collect")


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "consent", "serve", "--no-demo", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server and its worker stop as one group
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    yield url
                    return
            time.sleep(0.1)
        pytest.fail(f"the service did not become ready:\n{log.read_text(errors='replace')[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def create_key(env: dict[str, str], scope: str, *origins: str) -> str:
    """`consent apikeys create`, which prints the token alone on stdout."""
    flags = [arg for origin in origins for arg in ("--origin", origin)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "consent",
            "apikeys",
            "create",
            "--name",
            f"conformance-{scope}",
            "--scope",
            scope,
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def schemathesis(url: str, scope: str, token: str, report: Path) -> subprocess.Popen[bytes]:
    headers = ["-H", f"Authorization: Bearer {token}"]
    if scope == "collect":
        headers += ["-H", f"Origin: {ORIGIN}"]  # a publishable key is refused without its origin
    with report.open("wb") as out:
        return subprocess.Popen(
            [str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color", "run", f"{url}/schema/openapi.json",
             "--checks", "all", *headers, "--max-examples", str(EXAMPLES), "--seed", "1",
             "--generation-database", "none", "--request-timeout", "10"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_the_openapi_document_holds_for_every_key_scope(database_url: str, tmp_path: Path) -> None:
    # Schemathesis sends thousands of requests from 127.0.0.1: the network and new-subject limits are
    # not what it tests (tests/api/test_rate_limits.py does), so they are off here.
    env = service_env(
        database_url,
        tmp_path / "home",
        CONSENT_FEED_MAX_WAIT="1",
        CONSENT_RATE_LIMIT_NETWORK_PER_SECOND="0",
        CONSENT_NEW_SUBJECTS_PER_MINUTE="0",
    )
    keys = {scope: create_key(env, scope, *([ORIGIN] if scope == "collect" else [])) for scope in SCOPES}
    reports = {scope: tmp_path / f"{scope}.txt" for scope in SCOPES}
    with serving(env, tmp_path / "service.log") as url:
        # The admin run creates and revokes keys, its own and the others' among them: it goes last.
        runs = {scope: schemathesis(url, scope, keys[scope], reports[scope]) for scope in SCOPES if scope != "admin"}
        codes = {scope: run.wait(timeout=300) for scope, run in runs.items()}
        codes["admin"] = schemathesis(url, "admin", keys["admin"], reports["admin"]).wait(timeout=300)
    failures = {scope: reports[scope].read_text(errors="replace")[-8000:] for scope, code in codes.items() if code}
    assert not failures, "\n\n".join(f"--- {scope} ---\n{report}" for scope, report in failures.items())
