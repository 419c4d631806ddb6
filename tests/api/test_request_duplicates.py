"""Concurrent duplicate filings: one request, however many arrive at once, through however many connections.

Two service processes on one database, sixteen clients each on its own connection, all sending the
same request for a person nobody knows yet at the same moment: the subject is created once, the
request is created once (201), and every other answer is that request (200, the same id).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.helpers import bearer
from tests.processes import create_key, instances, service_env

CLIENTS = 16
FILING = {
    "type": "erasure",
    "subject": {"email": "kenji@example.jp"},
    "jurisdiction": "gdpr",
    "verification": "trusted",
}


async def test_sixteen_concurrent_duplicates_through_separate_connections_make_one_request(
    database_url: str, tmp_path: Path
) -> None:
    env = service_env(database_url, tmp_path / "home")
    async with contextlib.AsyncExitStack() as stack:
        servers = await stack.enter_async_context(instances(env, tmp_path, 2))
        token = await create_key(env, "dsr")
        # One client per connection: each keeps its own keep-alive connection to one of the servers.
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=servers[n % 2].url, timeout=30, limits=httpx.Limits(max_connections=1))
            )
            for n in range(CLIENTS)
        ]
        await asyncio.gather(*(server.wait_ready(clients[n]) for n, server in enumerate(servers)))
        # Open every connection first, so the filings leave together rather than behind their handshakes.
        await asyncio.gather(*(client.get("/health") for client in clients))
        start = asyncio.Event()

        async def filing(client: httpx.AsyncClient) -> httpx.Response:
            await start.wait()
            return await client.post("/v1/requests", json=FILING, headers=bearer(token))

        pending = [asyncio.create_task(filing(client)) for client in clients]
        await asyncio.sleep(0)
        start.set()
        answers = await asyncio.gather(*pending)

    bodies: list[dict[str, Any]] = [answer.json() for answer in answers]
    assert sorted(answer.status_code for answer in answers) == [200] * (CLIENTS - 1) + [201], bodies
    assert len({body["id"] for body in bodies}) == 1
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM requests") == 1
        assert await conn.fetchval("SELECT count(*) FROM subjects") == 1
    finally:
        await conn.close()
