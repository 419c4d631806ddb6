"""The served OpenAPI document holds against the live service, as a new user's client generator would try it.

Starts `consent serve` as its own process on a free loopback port, creates a key
of each scope with the CLI, and runs schemathesis with every check against
`/schema/openapi.json` once per key: any undocumented status or media type, any
schema-valid body refused or schema-violating body accepted, any 5xx fails.
The number of examples is bounded so that the four runs stay within about a minute.
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

from consent.config import load_settings
from consent.key_material import load_key_material
from tests.processes import free_port

ORIGIN = "https://shop.example"
EXAMPLES = 8
SCHEMATHESIS = Path(sys.executable).with_name("st")


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


@pytest.mark.xfail(
    strict=True,
    reason="issue 10 item 2, still open: bodies the schema allows but the service refuses (ST202: one subject "
    "identifier, known purposes, valid emails and phones), Allow on 405 (ST205), one schema-violating body accepted "
    "(ST201), long-poll timeouts on /v1/changes",
)
def test_the_openapi_document_holds_for_every_key_scope(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    load_key_material(load_settings({}, home=str(home)), announce=lambda _message: None)
    env = os.environ | {
        "DATABASE_URL": database_url,
        "CONSENT_HOME": str(home),
        "CONSENT_ENV": "development",
        "CONSENT_HOST": "127.0.0.1",
    }
    keys = {scope: create_key(env, scope) for scope in ("check", "dsr", "admin")}
    keys["collect"] = create_key(env, "collect", ORIGIN)
    failures = {}
    with serving(env, tmp_path / "service.log") as url:
        for scope, token in keys.items():
            headers = ["-H", f"Authorization: Bearer {token}"]
            if scope == "collect":
                headers += ["-H", f"Origin: {ORIGIN}"]  # a publishable key is refused without its origin
            run = subprocess.run(
                [str(SCHEMATHESIS), "run", f"{url}/schema/openapi.json", "--checks", "all", *headers,
                 "--max-examples", str(EXAMPLES), "--seed", "1", "--no-color", "--generation-database", "none"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )  # fmt: skip
            if run.returncode != 0:
                failures[scope] = run.stdout[-6000:] + run.stderr[-2000:]
    assert not failures, "\n\n".join(f"--- {scope} ---\n{report}" for scope, report in failures.items())
