"""Two service processes on one database: migrations apply once, background work is done once in effect.

Both instances start at the same moment on a fresh, empty database, so both race to migrate and to
apply the first policy; then writes go through both, and each consent change must reach the
recipient's webhook exactly once, and each housekeeping period run once, whichever instance leased
it. That a withdrawal through one instance is honoured by the other's cache at once is
tests/api/test_two_instances.py.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from consent.service.policy_versions import BUNDLED
from consent.store.migrate import discover_migrations
from tests.faults.conftest import service_env
from tests.faults.figures import FIGURES, personal
from tests.helpers import bearer, choices, eventually, with_database
from tests.processes import create_key, instances
from tests.service.delivery.receiver import Receiver

SECRET = "whsec_two_instances_test"
WRITES = 40
# Only the analytics warehouse gets a webhook (and a secret) here: every message must reach it.
ANALYTICS = [{"purpose": "analytics", "status": "granted", "notice_version": 2}]


@pytest.fixture
async def empty_database(admin_url: str) -> AsyncIterator[str]:
    """A database with nothing in it: no migration applied yet."""
    name = "faults_two_instances"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(admin_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().serving() as serving:
        yield serving


def _policy_towards(url: str, scratch: Path) -> Path:
    """The bundled policy with the analytics warehouse's webhook at `url`."""
    text = (Path(__file__).parents[2] / "policies" / "examples" / BUNDLED).read_text()
    bundled_url = "https://analytics.shop.example/hooks/consent"
    assert bundled_url in text
    path = scratch / "policy.toml"
    path.write_text(text.replace(bundled_url, url))
    return path


async def test_two_instances_started_together_migrate_once_and_deliver_each_change_once(
    empty_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    env = service_env(
        tmp_path / "home",
        empty_database,
        CONSENT_POLICY_FILE=str(_policy_towards(receiver.url, tmp_path)),
        CONSENT_RECIPIENT_ANALYTICS_SECRET=SECRET,
        CONSENT_JOB_POLL_INTERVAL_MS="100",
    )
    async with instances(env, tmp_path, 2) as both, httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(instance.wait_ready(http) for instance in both))
        token = await create_key(env, "dsr")
        for number in range(WRITES):
            FIGURES.requests += 1
            body = choices(subject={"device_id": personal("device_id")}, decisions=ANALYTICS)
            recorded = await http.post(f"{both[number % 2].url}/v1/consents", json=body, headers=bearer(token))
            assert recorded.status_code == 201, recorded.text

        conn = await asyncpg.connect(empty_database)
        try:
            sent = await conn.fetchval("SELECT count(*) FROM outbox")
            assert sent >= WRITES

            async def all_delivered() -> bool:
                pending: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
                return pending == 0

            # Once every message is settled in the database, no instance sends it again.
            await eventually(all_delivered, seconds=60, interval=0.1)
            assert len({r.headers["consent-event-id"] for r in receiver.received}) == sent
            twice = [k for k, n in collections.Counter(r.headers["consent-event-id"] for r in receiver.received).items()
                     if n > 1]  # fmt: skip
            assert not twice, f"{len(twice)} messages delivered more than once"

            migrations = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [row["version"] for row in migrations] == [m.version for m in discover_migrations()]
            assert await conn.fetchval("SELECT count(*) FROM policy_versions") == 1  # one first policy, not two

            async def housekept() -> bool:
                return bool(
                    await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'housekeeping' AND state = 'done'")
                )

            await eventually(housekept, seconds=60, interval=0.1)
            runs = await conn.fetch("SELECT attempts FROM jobs WHERE kind = 'housekeeping' AND state = 'done'")
            assert [row["attempts"] for row in runs] == [1] * len(runs)  # each period run once, by one instance
        finally:
            await conn.close()
