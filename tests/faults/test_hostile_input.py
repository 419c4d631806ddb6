"""Hostile input against the live service: refused with a problem document, never a 5xx, never a way in.

The routes come from the service's own `/schema/openapi.json`, so a new route is covered the day it
lands. Schemathesis already drives every route with every scope from that document
(tests/api/test_openapi_conformance.py); this adds what a schema cannot generate: bodies too big,
too deep, wrongly encoded or cut short; CR/LF and oversized headers; SQL-looking strings in every
field; and every keyed route without a key, with each wrong scope, with a revoked key and with a
publishable key from a foreign origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from tests.faults.conftest import service_env
from tests.faults.figures import FIGURES
from tests.helpers import bearer, with_database
from tests.processes import Instance, create_key, free_port

ORIGIN = "https://shop.example"
SCOPES = ("check", "collect", "dsr", "admin")
pytestmark = pytest.mark.asyncio(loop_scope="module")  # one service for the whole module

SQL = (
    "'; DROP TABLE consent_events; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(30)--",
    "$1) UNION SELECT * FROM subject_keys --",
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scopes: frozenset[str]
    body: dict[str, Any] | None  # the request body's JSON schema

    def url(self, base: str, value: str) -> str:
        """The path with every parameter set to `value`."""
        parts = [value if part.startswith("{") else part for part in self.path.split("/")]
        return base + "/".join(parts)


@dataclass(frozen=True)
class Live:
    instance: Instance
    tokens: dict[str, str]
    operations: list[Operation]
    components: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    name = "faults_hostile_input"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "consent_template"')
    scratch = tmp_path_factory.mktemp("hostile")
    env = service_env(scratch / "home", with_database(admin_url, name), CONSENT_FEED_MAX_WAIT="1")
    instance = Instance(env, free_port(), scratch / "service.log")
    await instance.start()
    try:
        tokens = dict(
            zip(
                SCOPES,
                await asyncio.gather(*(create_key(env, s, *([ORIGIN] if s == "collect" else [])) for s in SCOPES)),
                strict=True,
            )
        )
        async with httpx.AsyncClient(timeout=30) as http:
            await instance.wait_ready(http)
            document = (await http.get(f"{instance.url}/schema/openapi.json")).json()
        operations = [
            Operation(
                method=method.upper(),
                path=path,
                scopes=frozenset(s for requirement in op.get("security", []) for s in requirement.get("bearer", [])),
                body=op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"),
            )
            for path, item in document["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")
        ]
        yield Live(instance, tokens, operations, document["components"]["schemas"])
    finally:
        await instance.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _assert_refused_not_failed(response: httpx.Response, what: str) -> None:
    FIGURES.requests += 1
    if response.status_code >= 500:
        FIGURES.server_errors += 1
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", what


# --- every keyed route: no key, wrong scopes, a revoked key, a foreign origin --------------------------


async def test_every_keyed_route_refuses_no_key_each_wrong_scope_a_revoked_key_and_a_foreign_origin(
    live: Live,
) -> None:
    base = live.instance.url
    keyed = [op for op in live.operations if op.scopes]
    assert len(keyed) >= 20, "the document lists fewer keyed routes than the service has"
    async with httpx.AsyncClient(timeout=30) as http:
        revoked = await http.post(f"{base}/v1/api-keys", json={"name": "to revoke", "scope": "dsr"},
                                  headers=bearer(live.tokens["admin"]))  # fmt: skip
        assert revoked.status_code == 201, revoked.text
        revoke = await http.post(f"{base}/v1/api-keys/{revoked.json()['key']['id']}/revoke",
                                 headers=bearer(live.tokens["admin"]))  # fmt: skip
        assert revoke.status_code == 200, revoke.text
        subject = str(uuid.uuid4())

        async def refused(op: Operation, headers: dict[str, str], expected: int, what: str) -> None:
            response = await http.request(op.method, op.url(base, subject), headers=headers, json={})
            _assert_refused_not_failed(response, f"{op.method} {op.path} {what}")
            assert response.status_code == expected, f"{op.method} {op.path} {what}: {response.status_code}"

        for op in keyed:
            await refused(op, {}, 401, "without a key")
            await refused(op, bearer("ck_live_" + "x" * 40), 401, "with an unknown key")
            await refused(op, bearer(revoked.json()["token"]), 401, "with a revoked key")
            for scope in sorted(set(SCOPES) - op.scopes):
                origin = {"Origin": ORIGIN} if scope == "collect" else {}
                await refused(op, bearer(live.tokens[scope], **origin), 403, f"with a {scope} key")
            if "collect" in op.scopes:
                foreign = bearer(live.tokens["collect"], Origin="https://evil.example")
                await refused(op, foreign, 403, "with a publishable key from a foreign origin")


# --- SQL-looking strings in every field of every POST and PUT ------------------------------------------


def _example(schema: dict[str, Any], components: dict[str, Any], text: str, *, enums: bool) -> Any:
    """A value for `schema` with `text` in every string (in enumerations too unless `enums` keeps them valid)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[1]], components, text, enums=enums)
    for variant in ("oneOf", "anyOf"):
        if variant in schema:
            usable = [s for s in schema[variant] if s.get("type") != "null"]
            return _example(usable[0], components, text, enums=enums)
    if "enum" in schema and enums:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _example(s, components, text, enums=enums) for name, s in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components, text, enums=enums)]
    return {"integer": 1, "number": 1, "boolean": False}.get(str(kind), text)


def _one_field_each(body: Any, text: str) -> Iterator[Any]:
    """`body` once per string in it, with that one string replaced by `text`."""
    if not isinstance(body, dict | list):
        yield text
        return
    stack: list[tuple[Any, Any]] = [(body, key) for key in (body if isinstance(body, dict) else range(len(body)))]
    while stack:
        parent, key = stack.pop()
        value = parent[key]
        if isinstance(value, dict | list):
            stack += [(value, k) for k in (value if isinstance(value, dict) else range(len(value)))]
        elif isinstance(value, str):
            parent[key] = text
            yield copy.deepcopy(body)
            parent[key] = value


async def test_sql_looking_strings_in_every_field_of_every_post_and_put_are_refused_or_stored_as_text(
    live: Live,
) -> None:
    base = live.instance.url
    writes = [op for op in live.operations if op.method in ("POST", "PUT") and op.scopes]
    assert any(op.body for op in writes)
    async with httpx.AsyncClient(timeout=30) as http:
        for op in writes:
            for text in SQL:
                bodies = [None] if op.body is None else [
                    _example(op.body, live.components, text, enums=False),
                    *_one_field_each(_example(op.body, live.components, "shop", enums=True), text),
                ]  # fmt: skip
                for body in bodies:
                    token = bearer(live.tokens["admin"])
                    response = await http.request(op.method, op.url(base, text), json=body, headers=token)
                    _assert_refused_not_failed(response, f"{op.method} {op.path} {body}")
        # Nothing was executed: the tables are all there and the service still records.
        ready = await http.get(f"{base}/ready")
        assert ready.status_code == 200


# --- bodies too big, too deep, wrongly encoded, cut short; hostile headers -----------------------------


async def _raw(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """Send `request` as bytes on a fresh connection; what came back (empty if the server hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        if half_close:
            writer.write_eof()
        with contextlib.suppress(ConnectionError):
            return await asyncio.wait_for(reader.read(1 << 16), 20)
        return b""
    finally:
        writer.close()


def _status(answer: bytes) -> int | None:
    FIGURES.requests += 1
    if not answer:
        return None  # the server closed the connection: a refusal, not a failure
    status = int(answer.split(b" ", 2)[1])
    FIGURES.server_errors += status >= 500
    return status


MAX_BODY_BYTES = 64 * 1024  # CONSENT_MAX_BODY_BYTES by default (a batch check may send 16 times that)
BODIES: dict[str, tuple[bytes, str]] = {
    "oversized": (b'{"property": "' + b"x" * (2 << 20) + b'"}', "application/json"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "deeply nested beyond the size limit": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "invalid UTF-8": (
        b'{"property": "\xff\xfe\xc3\x28", "subject": {"device_id": "\xed\xa0\x80"}}',
        "application/json",
    ),
    "UTF-16 declared as such": ('{"property": "shop"}'.encode("utf-16"), "application/json; charset=utf-16"),
    "Latin-1 declared as UTF-8": ('{"property": "café"}'.encode("latin-1"), "application/json; charset=utf-8"),
    "not JSON at all": (b"\x00\x01\x02garbage", "application/json"),
    "a lone surrogate escape": (b'{"property": "\\ud800"}', "application/json"),
}


@pytest.mark.parametrize("kind", list(BODIES))
async def test_a_hostile_body_to_any_post_or_put_is_refused_never_a_5xx(live: Live, kind: str) -> None:
    body, content_type = BODIES[kind]
    async with httpx.AsyncClient(timeout=30) as http:
        for op in live.operations:
            if op.method in ("POST", "PUT") and op.body is not None:
                headers = bearer(live.tokens["admin"], **{"Content-Type": content_type})
                url = op.url(live.instance.url, str(uuid.uuid4()))
                try:
                    response = await http.request(op.method, url, content=body, headers=headers)
                except httpx.TransportError:
                    # The server may answer 413 and hang up before all of a body over the limit is sent.
                    assert len(body) > MAX_BODY_BYTES, f"{kind} to {op.method} {op.path}: the connection broke"
                    continue
                _assert_refused_not_failed(response, f"{kind} to {op.method} {op.path}")
                assert response.status_code >= 400, f"{kind} to {op.method} {op.path} was accepted"


async def test_a_deeply_nested_body_within_the_size_limit_is_refused_never_a_5xx(live: Live) -> None:
    nested = b'{"a":' * 1000 + b"1" + b"}" * 1000
    async with httpx.AsyncClient(timeout=30) as http:
        for op in live.operations:
            if op.method in ("POST", "PUT") and op.body is not None:
                headers = bearer(live.tokens["admin"], **{"Content-Type": "application/json"})
                url = op.url(live.instance.url, str(uuid.uuid4()))
                response = await http.request(op.method, url, content=nested, headers=headers)
                _assert_refused_not_failed(response, f"nested body to {op.method} {op.path}")


async def test_a_body_cut_short_is_refused_or_dropped_never_a_5xx_and_never_held(live: Live) -> None:
    token = live.tokens["admin"].encode()
    for path in (b"/v1/consents", b"/v1/check", b"/v1/api-keys"):
        head = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
                b"\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n")  # fmt: skip
        status = _status(await _raw(live.instance.port, head + b'{"subject": {"devi', half_close=True))
        assert status is None or 400 <= status < 500, status


HEADERS = {
    "CR/LF in a request id": b"X-Request-Id: abc\r\nX-Injected: 1",
    "a bare CR in a request id": b"X-Request-Id: abc\rX-Injected: 1",
    "a bare LF in an idempotency key": b"Idempotency-Key: abc\nX-Injected: 1",
    "CR/LF in an origin": b"Origin: https://shop.example\r\n\r\nHTTP/1.1 200 OK",
    "a NUL in the authorization": b"Authorization: Bearer ck\x00live",
    "a 100 KiB header": b"X-Padding: " + b"a" * 100_000,
    "a thousand headers": b"\r\n".join(b"X-H%d: v" % n for n in range(1000)),
}


@pytest.mark.parametrize("kind", list(HEADERS))
async def test_a_hostile_header_is_refused_and_never_echoed(live: Live, kind: str) -> None:
    token = live.tokens["dsr"].encode()
    body = b'{"subject": {"device_id": "d_header_test_0001"}, "purposes": ["analytics"]}'
    request = (b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\r\n" + HEADERS[kind] +
               b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)  # fmt: skip
    answer = await _raw(live.instance.port, request)
    status = _status(answer)
    assert status is None or status < 500, answer[:300]
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"x-injected" not in head
    assert b"\r\nhttp/1.1 200" not in head
