"""Driving load with wrk, a separate process, and reading its `--latency` report.

wrk runs with one thread (`-t1`): on a small machine it shares the cores with
the server, and one thread is enough to saturate a Python server over
loopback. Requests with a body, or with "${net}" in a header, go through `request.lua`.

>>> result = run_wrk(WrkRequest(url="http://127.0.0.1:8000/health"), connections=4, duration=5)
>>> result.rps, result.p99_ms
(6525.8, 1.53)
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import msgspec

__all__ = ["WrkError", "WrkRequest", "WrkResult", "parse_wrk", "run_wrk", "wrk_version"]

_SCRIPT = Path(__file__).with_name("request.lua")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(Exception):
    """wrk failed, or printed something this module cannot read."""


class WrkRequest(msgspec.Struct, kw_only=True, frozen=True):
    """One request to repeat: a loopback URL, a method, headers and an optional body."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


class WrkResult(msgspec.Struct, kw_only=True, frozen=True):
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int  # responses that were not 2xx or 3xx
    socket_errors: int  # connect, read, write and timeout errors

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def wrk_version() -> str:
    """wrk's version, e.g. 'debian/4.1.0-3+b2' (from 'wrk debian/4.1.0-3+b2 [epoll] Copyright ...')."""
    found = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    words = (found.stdout or found.stderr).split()
    return words[1] if len(words) > 1 else "unknown"


def parse_wrk(output: str) -> WrkResult:
    """Read requests/sec, p50, p99 and the error counts from `wrk --latency` output."""
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    percentiles = {int(p): float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(output)}
    if rps is None or requests is None or not {50, 99} <= percentiles.keys():
        raise WrkError(f"unexpected wrk output:\n{output}")
    non_2xx = _NON_2XX.search(output)
    socket_errors = _SOCKET_ERRORS.search(output)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


def run_wrk(request: WrkRequest, *, connections: int, duration: int) -> WrkResult:
    """Repeat `request` over `connections` keep-alive connections for `duration` seconds."""
    if not request.url.startswith("http://127.0.0.1:"):
        raise WrkError(f"benchmarks only load the loopback interface, not {request.url}")
    if shutil.which("wrk") is None:
        raise WrkError("wrk is not installed: sudo apt-get install wrk")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in request.headers:
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="consent-bench-wrk-") as scratch:
        env = dict(os.environ)
        numbered_headers = any("${net}" in value for _, value in request.headers)
        if request.body is not None or request.method != "GET" or numbered_headers:
            env |= {"BENCH_METHOD": request.method, "BENCH_RUN": secrets.token_hex(4)}
            if request.body is not None or request.method != "GET":
                body_file = Path(scratch) / "body"
                body_file.write_bytes(request.body or b"")
                env["BENCH_BODY_FILE"] = str(body_file)
            command += ["-s", str(_SCRIPT)]
        command.append(request.url)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)
