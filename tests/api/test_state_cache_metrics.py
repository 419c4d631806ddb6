"""The state cache's bound (CONSENT_STATE_CACHE_SIZE) and its hit rate in /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api.app import create_app
from consent.config import Settings
from consent.service.api_keys.issuing import Scope
from tests.api.test_check import Keys, check, record
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def small_cache(settings: Settings) -> AsyncIterator[Client]:
    """The service with room for two subjects' state (the other caches keep the default size)."""
    app: Litestar = create_app(msgspec.structs.replace(settings, state_cache_size=2))
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def keys(make_key: MakeKey) -> Keys:
    return Keys((await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


async def test_the_state_cache_holds_at_most_its_configured_subjects_and_counts_hits_and_misses(
    small_cache: Client, keys: Keys, make_key: MakeKey
) -> None:
    scrape = bearer((await make_key(Scope.METRICS)).token)
    subjects = [{"subject_id": await record(small_cache, keys, {"user_id": f"u-{n}"}, {"analytics": "granted"})}
                for n in range(3)]  # fmt: skip
    before = (await small_cache.get("/metrics", headers=scrape)).text
    hits, misses = metric(before, "consent_state_cache_hits_total"), metric(before, "consent_state_cache_misses_total")
    for subject in subjects:  # each read once, and kept: the third pushes out the first
        await check(small_cache, keys, subject, purposes=["analytics"])
    await check(small_cache, keys, subjects[2], purposes=["analytics"])  # cached
    await check(small_cache, keys, subjects[0], purposes=["analytics"])  # pushed out: read again
    after = (await small_cache.get("/metrics", headers=scrape)).text
    assert metric(after, "consent_state_cache_hits_total") - hits == 1
    assert metric(after, "consent_state_cache_misses_total") - misses == 4
    assert metric(after, "consent_state_cache_entries") == 2
