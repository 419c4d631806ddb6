import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from consent.ids import uuid7
from consent.jobs.idempotency_expiry import run_idempotency_expiry
from consent.runtime import Runtime
from consent.store.pool import Connection
from tests.helpers import eventually


async def test_expired_idempotency_keys_are_forgotten_and_fresh_ones_kept(runtime: Runtime, conn: Connection) -> None:
    now = datetime.now(UTC)
    for key, age in (("old", timedelta(hours=30)), ("fresh", timedelta(minutes=5))):
        await conn.execute(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, status, response, created_at)"
            " VALUES ($1, $2, $3, 201, '{}', $4)",
            uuid7(),
            key,
            b"h",
            now - age,
        )

    async def remaining() -> list[str]:
        return [row["key"] for row in await conn.fetch("SELECT key FROM idempotency_keys ORDER BY key")]

    async def old_one_forgotten() -> bool:
        return "old" not in await remaining()

    job = asyncio.create_task(run_idempotency_expiry(runtime.pool, ttl=timedelta(hours=24), interval=0.01))
    try:
        await eventually(old_one_forgotten)
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
    assert await remaining() == ["fresh"]
