"""The change feed (`GET /v1/changes`): every consent change once, in commit order, with long polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import httpx
import pytest

from consent.api.app import create_app
from consent.config import Settings
from consent.ids import uuid7
from consent.runtime import running
from consent.service.api_keys.issuing import Scope
from consent.service.feed import decode_cursor
from consent.service.foreground import FOREGROUND
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer

STORED = "SELECT count(*) FROM consent_events"


@contextlib.asynccontextmanager
async def instance(settings: Settings, database_url: str, *, wrapped: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """One service instance (its own pool, caches and writer) on the test's event loop.

    Litestar's test client runs the app in another thread and blocks on each call; concurrent
    writers and long polls need the app on this loop. `wrapped`: through the wrapper every request
    of a served app passes (`consent.api.observability.observe`), as a worker runs it.
    """
    app = create_app(settings)
    async with running(settings, database_url) as runtime:
        app.state.runtime = runtime
        if wrapped:
            app.runtime = runtime
        transport = httpx.ASGITransport(app=cast("Any", app))  # httpx types ASGI apps more narrowly
        async with httpx.AsyncClient(transport=transport, base_url="http://consent.test", timeout=60) as http:
            yield http


@pytest.fixture
async def service(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with instance(settings, database_url) as http:
        yield http


class Tokens:
    def __init__(self, record: str, follow: str) -> None:
        self.record = record
        self.follow = follow


@pytest.fixture
async def tokens(make_key: MakeKey) -> Tokens:
    return Tokens((await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token)


async def record(http: httpx.AsyncClient, tokens: Tokens, device: str, status: str = "granted") -> list[str]:
    body = {
        "subject": {"device_id": device},
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "api",
        "decisions": [
            {"purpose": "analytics", "status": status, "notice_version": 2},
            {"purpose": "personalisation", "status": "denied", "notice_version": 1},
        ],
    }
    response = await http.post("/v1/consents", json=body, headers=bearer(tokens.record))
    assert response.status_code == 201, response.text
    event_ids: list[str] = response.json()["event_ids"]
    return event_ids


async def changes(http: httpx.AsyncClient, tokens: Tokens, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/changes", params=params, headers=bearer(tokens.follow))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_page_lists_changes_with_what_a_copy_needs(service: httpx.AsyncClient, tokens: Tokens) -> None:
    event_ids = await record(service, tokens, "d_1-00000000000000000000")
    page = await changes(service, tokens)
    assert [c["event_id"] for c in page["changes"]] == sorted(event_ids)
    analytics = next(c for c in page["changes"] if c["purpose"] == "analytics")
    assert analytics["status"] == "granted"
    assert analytics["notice_version"] == 2
    assert analytics["jurisdiction"] == "gdpr"
    assert page["next"] == page["changes"][-1]["cursor"]


async def test_following_the_cursor_continues_after_the_last_change(service: httpx.AsyncClient, tokens: Tokens) -> None:
    first = await record(service, tokens, "d_1-00000000000000000000")
    page = await changes(service, tokens, limit=1)
    assert len(page["changes"]) == 1
    rest = await changes(service, tokens, after=page["next"])
    second = await record(service, tokens, "d_2-00000000000000000000")
    later = await changes(service, tokens, after=rest["next"])
    assert {c["event_id"] for c in page["changes"] + rest["changes"]} == set(first)
    assert {c["event_id"] for c in later["changes"]} == set(second)


async def test_a_follower_sees_every_change_exactly_once_while_many_writers_commit(
    service: httpx.AsyncClient, settings: Settings, database_url: str, tokens: Tokens, conn: Connection
) -> None:
    async with instance(settings, database_url) as other:
        writers_done = asyncio.Event()

        async def writer(number: int) -> None:
            # Two instances, so that several transactions commit at once and out of order.
            http = service if number % 2 else other
            for round_ in range(25):
                await record(http, tokens, f"d_{number}_{round_ % 3}-{0:0>18}", "granted" if round_ % 2 else "denied")

        async def follower() -> list[dict[str, Any]]:
            seen: list[dict[str, Any]] = []
            cursor = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                page = await changes(service, tokens, limit=7, **({"after": cursor} if cursor else {}))
                seen += page["changes"]
                if page["changes"]:
                    assert page["next"] == page["changes"][-1]["cursor"]
                elif cursor is not None:
                    assert page["next"] == cursor
                cursor = page["next"]
                if not page["changes"]:
                    if writers_done.is_set() and len(seen) >= await conn.fetchval(STORED):
                        return seen
                    await asyncio.sleep(0.005)
            return seen

        following = asyncio.create_task(follower())
        await asyncio.gather(*(writer(n) for n in range(8)))
        writers_done.set()
        seen = await following

    stored = {str(row["id"]) for row in await conn.fetch("SELECT id FROM consent_events")}
    assert len(stored) == 8 * 25 * 2
    ids = [c["event_id"] for c in seen]
    assert len(ids) == len(set(ids)), "a change was handed out twice"
    assert set(ids) == stored
    positions = [decode_cursor(c["cursor"]) for c in seen]
    assert positions == sorted(positions)
    assert len({txid for txid, _ in positions}) > 1


async def test_a_change_committed_late_by_an_older_transaction_is_not_skipped(
    service: httpx.AsyncClient, tokens: Tokens, conn: Connection
) -> None:
    await record(service, tokens, "d_early-0000000000000000")
    start = await changes(service, tokens)
    subject_id = await conn.fetchval("SELECT subject_id FROM consent_events LIMIT 1")
    late = uuid7()
    async with conn.transaction():
        await conn.execute("SELECT pg_current_xact_id()")  # this transaction's id is now older than the next write's
        newer = await record(service, tokens, "d_newer-0000000000000000")
        hidden = await changes(service, tokens, after=start["next"])
        assert hidden == {"changes": [], "next": start["next"]}
        await conn.execute(
            """
            INSERT INTO consent_events (subject_id, id, purpose, status, action, source, jurisdiction, property,
                                        notice_version, policy_version, gpc, recorded_at, proof)
            VALUES ($1, $2, 'marketing_email', 'denied', 'api', 'import', 'gdpr', 'shop', 1, 1, false, $3, '{}')
            """,
            subject_id,
            late,
            datetime.now(UTC),
        )
    after = await changes(service, tokens, after=start["next"])
    assert [c["event_id"] for c in after["changes"]] == [str(late), *sorted(newer)]


async def test_a_malformed_cursor_is_422(service: httpx.AsyncClient, tokens: Tokens) -> None:
    for cursor in ("not-a-cursor", "AAAA", "!!"):
        response = await service.get("/v1/changes", params={"after": cursor}, headers=bearer(tokens.follow))
        assert response.status_code == 422, cursor
        assert response.json()["field"] == "after"


@pytest.mark.parametrize("limit", [0, 1001])
async def test_a_limit_out_of_range_is_422(service: httpx.AsyncClient, tokens: Tokens, limit: int) -> None:
    response = await service.get("/v1/changes", params={"limit": limit}, headers=bearer(tokens.follow))
    assert response.status_code == 422
    assert response.json()["field"] == "limit"


@pytest.mark.parametrize("scope", [Scope.COLLECT, Scope.DSR])
async def test_the_feed_needs_a_check_key(service: httpx.AsyncClient, make_key: MakeKey, scope: Scope) -> None:
    key = await make_key(scope)
    response = await service.get("/v1/changes", headers=bearer(key.token, Origin="https://shop.example"))
    assert response.status_code == 403


async def test_a_long_poll_returns_as_soon_as_a_change_is_committed(service: httpx.AsyncClient, tokens: Tokens) -> None:
    start = await changes(service, tokens)
    began = time.monotonic()
    polling = asyncio.create_task(changes(service, tokens, after=start["next"], wait=10))
    await asyncio.sleep(0.2)
    assert not polling.done()
    event_ids = await record(service, tokens, "d_1-00000000000000000000")
    page = await polling
    assert time.monotonic() - began < 3
    assert {c["event_id"] for c in page["changes"]} == set(event_ids)


async def test_a_long_poll_without_changes_returns_an_empty_page_after_the_wait(
    service: httpx.AsyncClient, tokens: Tokens
) -> None:
    await record(service, tokens, "d_1-00000000000000000000")
    start = await changes(service, tokens)
    began = time.monotonic()
    page = await changes(service, tokens, after=start["next"], wait=0.5)
    assert time.monotonic() - began >= 0.5
    assert page == {"changes": [], "next": start["next"]}


async def test_a_sleeping_long_poll_leaves_the_process_free_for_background_jobs(
    settings: Settings, database_url: str, tokens: Tokens
) -> None:
    # A downstream service following the feed is in flight all the time; asleep, it is not work.
    async with instance(settings, database_url, wrapped=True) as service:
        start = await changes(service, tokens)
        polling = asyncio.create_task(changes(service, tokens, after=start["next"], wait=3))
        await asyncio.sleep(2.5)
        assert not polling.done()
        assert not FOREGROUND.busy()
        assert FOREGROUND.share() < 0.1
        await polling


async def test_an_empty_feed_starts_from_the_beginning(service: httpx.AsyncClient, tokens: Tokens) -> None:
    page = await changes(service, tokens)
    assert page["changes"] == []
    assert decode_cursor(page["next"]) == (0, UUID(int=0))
