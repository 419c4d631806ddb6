"""Crash during a write burst: every acknowledged write survives SIGKILL, and nothing is left half-written.

Sixteen writers record consents over HTTP and keep every 201 with its receipt, while the service is
killed with SIGKILL at random moments and started again on the same database, as an orchestrator
would. Afterwards every acknowledged event is stored and its receipt verifies against the published
keys, every stored write is whole (events, state, audit entry and identifier together), and
`consent audit verify` passes. The long run (`make faults`) kills the service a dozen times on a
PostgreSQL of its own, and kills PostgreSQL itself with SIGKILL too, so its crash recovery must
bring back every acknowledged commit.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from consent.store.pool import connect
from tests.faults.cluster import Cluster, pg_dump
from tests.faults.conftest import service_env
from tests.faults.figures import FIGURES, leaks
from tests.faults.load import WRITERS, Ledger, assert_acknowledged_writes_kept, assert_audit_verifies, write
from tests.helpers import eventually
from tests.processes import Instance, create_key, free_port

ACKNOWLEDGED_BETWEEN_KILLS = 20  # each kill lands while writes are being acknowledged


async def _burst_with_kills(
    instance: Instance, http: httpx.AsyncClient, token: str, *, kills: int, rng: random.Random,
    also: Callable[[int], None] = lambda _kill: None,
) -> Ledger:  # fmt: skip
    """Write with `WRITERS` writers; kill the service `kills` times (calling `also(kill)` while it is down)."""
    ledger = Ledger()
    stop = asyncio.Event()
    writers = [asyncio.create_task(write(http, instance.url, token, ledger, stop)) for _ in range(WRITERS)]

    async def acknowledged_some_more() -> None:
        target = len(ledger.acknowledged) + ACKNOWLEDGED_BETWEEN_KILLS
        await eventually(lambda: len(ledger.acknowledged) >= target or ledger.server_errors != [], seconds=120)

    try:
        for kill in range(kills):
            await acknowledged_some_more()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            await instance.kill()
            FIGURES.faults += 1
            also(kill)
            await instance.start()
            await instance.wait_ready(http)
        await acknowledged_some_more()
    finally:
        stop.set()
        await asyncio.gather(*writers)
    assert not ledger.server_errors, ledger.server_errors[:5]
    return ledger


async def _assert_survived(instance: Instance, http: httpx.AsyncClient, url: str, ledger: Ledger) -> None:
    jwks = (await http.get(f"{instance.url}/.well-known/jwks.json")).content
    conn = await connect(url)
    try:
        await assert_acknowledged_writes_kept(conn, ledger, jwks)
    finally:
        await conn.close()
    await assert_audit_verifies(instance.env)
    metrics = (await http.get(f"{instance.url}/metrics")).text
    places = {"pg_dump": pg_dump(url), "service log": instance.log.read_text(errors="replace"), "/metrics": metrics}
    found = leaks([], places)  # device ids carry the marker: finding it is enough
    assert not found, found


async def test_acknowledged_writes_survive_the_service_killed_during_a_burst(
    database_url: str, tmp_path: Path, rng: random.Random
) -> None:
    env = service_env(tmp_path / "home", database_url)
    instance = Instance(env, free_port(), tmp_path / "service.log")
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            await instance.start()
            token = await create_key(env, "dsr")
            await instance.wait_ready(http)
            ledger = await _burst_with_kills(instance, http, token, kills=2, rng=rng)
            await _assert_survived(instance, http, database_url, ledger)
        finally:
            await instance.stop()


@pytest.mark.faults
async def test_acknowledged_writes_survive_a_dozen_kills_of_the_service_and_two_of_postgresql(
    tmp_path: Path, rng: random.Random
) -> None:
    cluster = Cluster.create(free_port())
    try:
        cluster.start()
        url = cluster.url()
        env = service_env(tmp_path / "home", url)
        instance = Instance(env, free_port(), tmp_path / "service.log")

        def kill_postgresql_too(kill: int) -> None:
            if kill in (4, 8):
                cluster.kill()
                FIGURES.faults += 1
                cluster.start()  # crash recovery: every acknowledged commit must come back

        async with httpx.AsyncClient(timeout=30) as http:
            try:
                await instance.start()
                await instance.wait_ready(http)
                token = await create_key(env, "dsr")
                ledger = await _burst_with_kills(instance, http, token, kills=12, rng=rng, also=kill_postgresql_too)
                await _assert_survived(instance, http, url, ledger)
            finally:
                await instance.stop()
    finally:
        cluster.remove()
