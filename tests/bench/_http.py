"""Single HTTP calls over loopback: readiness polls, probes before a run, scenario set-up.

The standard library is enough here: these calls are few and never timed.

>>> post_json("http://127.0.0.1:8000", "/v1/consents", token, {"subject": {"device_id": "d_1"}, ...})
{'subject_id': '...', ...}
"""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import msgspec

__all__ = ["HttpError", "call", "post_json"]


class HttpError(Exception):
    """A call got an unexpected status; the message carries the start of the body."""


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """One request on a fresh connection; the status and the body."""
    parts = urlsplit(base_url)
    if parts.hostname != "127.0.0.1" or parts.port is None:
        raise HttpError(f"benchmarks only talk to 127.0.0.1, not {base_url}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_json(base_url: str, path: str, token: str, body: Any, *, headers: tuple[tuple[str, str], ...] = ()) -> Any:
    """POST `body` as JSON with a bearer token; the decoded answer (any 2xx), else HttpError."""
    status, answer = call(
        base_url,
        "POST",
        path,
        headers=(("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"), *headers),
        body=msgspec.json.encode(body),
    )
    if not 200 <= status < 300:
        raise HttpError(f"POST {path}: {status} {answer[:300].decode(errors='replace')}")
    return msgspec.json.decode(answer) if answer else None
