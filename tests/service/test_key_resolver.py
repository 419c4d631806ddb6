"""Refusing a key costs no database work per request: malformed tokens, unknown tokens, cold origins."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from consent.runtime import Runtime
from consent.service.api_keys import resolver
from consent.service.api_keys.issuing import Scope, create_key
from consent.store import api_keys as key_store
from tests.helpers import eventually

Counted = dict[str, int]


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Counted:
    """How often the resolver reads `api_keys` (each call still runs its real query)."""
    counted: Counted = {"fetch_by_hash": 0, "active_collect_origins": 0}

    def counting(name: str) -> Callable[..., Awaitable[Any]]:
        real = getattr(key_store, name)

        async def call(*args: Any) -> Any:
            counted[name] += 1
            return await real(*args)

        return call

    for name in counted:
        monkeypatch.setattr(key_store, name, counting(name))
    return counted


def unknown_token() -> str:
    return "sk_" + secrets.token_urlsafe(32)


@pytest.mark.parametrize("token", ["", "sk_", "sk_short", "xx_" + "A" * 43, "sk_" + "A" * 44, "sk_" + "!" * 43])
async def test_a_token_not_shaped_like_an_issued_one_is_refused_without_a_lookup(
    runtime: Runtime, queries: Counted, token: str
) -> None:
    assert await runtime.api_keys.resolve(token) is None
    assert queries["fetch_by_hash"] == 0


async def test_an_unknown_token_is_looked_up_once(runtime: Runtime, queries: Counted) -> None:
    token = unknown_token()
    for _ in range(5):
        assert await runtime.api_keys.resolve(token) is None
    assert queries["fetch_by_hash"] == 1


async def test_creating_a_key_anywhere_forgets_the_unknown_tokens(runtime: Runtime, queries: Counted) -> None:
    token = unknown_token()
    assert await runtime.api_keys.resolve(token) is None
    await create_key(runtime.pool, name="new", scope=Scope.CHECK, origins=[], actor="test")

    async def looked_up_again() -> bool:
        await runtime.api_keys.resolve(token)
        return queries["fetch_by_hash"] > 1

    await eventually(looked_up_again)


async def test_unknown_tokens_are_remembered_up_to_a_bound(runtime: Runtime, queries: Counted) -> None:
    bounded = resolver.KeyResolver(runtime.pool, runtime.notifications, max_unknown=3)
    tokens = [unknown_token() for _ in range(4)]
    for token in tokens:
        await bounded.resolve(token)
    assert len(bounded._unknown) <= 3


async def test_a_created_key_resolves_after_being_unknown(runtime: Runtime) -> None:
    created = await create_key(runtime.pool, name="new", scope=Scope.CHECK, origins=[], actor="test")
    assert await runtime.api_keys.resolve(created.token) == created.key


async def test_concurrent_preflights_after_a_key_change_read_the_origins_once(
    runtime: Runtime, queries: Counted
) -> None:
    # Loaded first, so that the key change's notification is seen arriving: it drops them.
    await runtime.api_keys.collect_origins()
    before = queries["active_collect_origins"]
    await create_key(runtime.pool, name="site", scope=Scope.COLLECT, origins=["https://shop.example"], actor="test")
    await eventually(lambda: runtime.api_keys._origins is None)
    found = await asyncio.gather(*(runtime.api_keys.collect_origins() for _ in range(20)))
    assert found == [frozenset({"https://shop.example"})] * 20
    assert queries["active_collect_origins"] == before + 1
    await runtime.api_keys.collect_origins()
    assert queries["active_collect_origins"] == before + 1
