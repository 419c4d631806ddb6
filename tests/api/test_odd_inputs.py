"""Whatever a client sends to the hot path, the answer is a success or a problem, never a 500.

Hypothesis takes a valid body, puts an odd value (control characters, huge
numbers, wrong types, far dates, nesting) at any one place in it, or drops or
adds a field, and posts it. A refusal must be a problem+json, and a refused
recording must store nothing.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer, choices, stored

Client = AsyncTestClient[Litestar]

RECORD = choices(client_at="2026-11-23T10:00:00Z")
CHECK = {"subject": {"user_id": "u-odd"}, "purposes": ["analytics"], "jurisdiction": "gdpr", "gpc": False}

_CONTROL = st.characters(max_codepoint=0x1F) | st.just("\x7f")
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31 - 2, max_value=2**63 + 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=_CONTROL, min_size=1, max_size=3).map(lambda c: f"shop{c}"),
    st.sampled_from(["\x00", "a\x00b", "\n", "\u2028", "\ufeff"]),
    st.text(min_size=300, max_size=400),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["granted", "denied", "withdrawn", "withdraw", "accept_all", "ccpa", "appi", "", "0", "-1"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value sits, the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def odd_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """`valid` with one to three places changed: a value replaced, a field dropped or one added."""
    body: dict[str, Any] = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for key in path[:-1]:
            parent = parent[key]
        change = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        if change == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif change == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(ODD_VALUES)
        else:
            parent[path[-1]] = draw(ODD_VALUES)
    return body


def _assert_success_or_problem(response: Any, success: int) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != success:
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def _rows(conn: Connection) -> tuple[int, int, int, int]:
    """Events and state rows, subjects, audit entries."""
    events, states = await stored(conn)
    return (
        events,
        states,
        await conn.fetchval("SELECT count(*) FROM subjects"),
        await conn.fetchval("SELECT count(*) FROM audit_log"),
    )


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(body=odd_bodies(RECORD))
@example(body={**RECORD, "property": "shop\x00"})  # PostgreSQL text cannot hold NUL: once a 500
async def test_an_odd_recording_is_recorded_or_refused_and_then_stores_nothing(
    client: Client, make_key: MakeKey, conn: Connection, body: dict[str, Any]
) -> None:
    key = await make_key(Scope.DSR)
    before = await _rows(conn)
    response = await client.post("/v1/consents", json=body, headers=bearer(key.token))
    _assert_success_or_problem(response, 201)
    if response.status_code != 201:
        assert await _rows(conn) == before


@_SETTINGS
@given(body=odd_bodies(CHECK))
async def test_an_odd_check_is_answered_or_refused(client: Client, make_key: MakeKey, body: dict[str, Any]) -> None:
    key = await make_key(Scope.CHECK)
    _assert_success_or_problem(await client.post("/v1/check", json=body, headers=bearer(key.token)), 200)
    batch = {"checks": [CHECK, body]}
    _assert_success_or_problem(await client.post("/v1/check/batch", json=batch, headers=bearer(key.token)), 200)
