"""Reads from a real streaming replica (DATABASE_REPLICA_URL), as docs/scaling.md sets it up.

The test starts Debian's PostgreSQL 15 twice: a primary (`initdb`) and a streaming replica of it
(`pg_basebackup -R`), on free ports in a temporary directory, as the `postgres` system user when
run as root (PostgreSQL refuses root). The embedded server is another major version, and a replica
needs the primary's. Then, through the HTTP API:

- reads go to the replica once it has replayed what they depend on (its `pg_stat_activity` shows
  the service's statements; an access export's reads show in its log);
- with the replica's replay paused, a check right after a recording still answers the recording
  (the primary answers after the bounded wait), and `/ready` reports the replica `lagging`;
- with the replica stopped, everything answers, `/ready` stays 200 and says `down`; started again,
  the replica takes reads again.

PostgreSQL 15 is Debian's `postgresql-15`: installed with apt when missing (as root), else skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api.app import create_app
from consent.config import Settings, load_settings
from consent.service.api_keys.issuing import Scope, create_key
from consent.store.migrate import apply_migrations
from consent.store.pool import connect
from consent.store.roles import ensure_service_login
from tests.api.test_check import Keys, check, record
from tests.helpers import bearer, eventually, free_port

Client = AsyncTestClient[Litestar]
BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "consent_replica_test"
SERVICE_USER, SERVICE_PASSWORD = "consent_replica_service", "test-only-password"


def _binaries() -> Path:
    if (BIN / "pg_basebackup").exists():
        return BIN
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("PostgreSQL 15 is not installed and apt-get cannot install it here: apt-get install postgresql-15")
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postgresql-15"], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0 or not (BIN / "pg_basebackup").exists():
        pytest.skip(f"apt-get install postgresql-15 failed: {done.stderr.strip()[-300:]}")
    return BIN


class Server:
    """One PostgreSQL 15 data directory, started and stopped with `pg_ctl`, as `postgres` when root."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self.run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        self.run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres", user: str = "postgres", password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    """A primary with the service's database migrated, and a streaming replica of it."""
    _binaries()
    # Outside pytest's base directory, whose parents only root may enter when the servers run as `postgres`.
    home = Path(tempfile.mkdtemp(prefix="consent-replication-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    primary = Server(home / "primary", free_port())
    replica = Server(home / "replica", free_port())
    primary.run(str(BIN / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust", "--no-sync")
    with (primary.data / "postgresql.conf").open("a") as conf:
        # No durability needed; the socket directory is the test's own.
        conf.write(f"port = {primary.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{home}'\n")
        conf.write("fsync = off\nmax_connections = 200\n")
    primary.start()
    try:
        asyncio.run(_migrate(primary))
        primary.run(
            str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        with (replica.data / "postgresql.conf").open("a") as conf:
            # Every statement in its log, for the reads that leave no trace in `pg_stat_activity`.
            conf.write(f"port = {replica.port}\nlog_statement = 'all'\n")
        replica.start()
        try:
            yield primary, replica
        finally:
            replica.stop()
    finally:
        primary.stop()
        shutil.rmtree(home, ignore_errors=True)


async def _migrate(primary: Server) -> None:
    conn = await asyncpg.connect(primary.url())
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        await ensure_service_login(conn, SERVICE_USER, password=SERVICE_PASSWORD)
    finally:
        await conn.close()
    owner = await connect(primary.url(DATABASE))
    try:
        await apply_migrations(owner)
    finally:
        await owner.close()


@pytest.fixture
def replicated(servers: tuple[Server, Server], tmp_path: Path) -> Settings:
    primary, replica = servers
    return load_settings(
        {"CONSENT_ENV": "development"},
        database_url=primary.url(DATABASE, SERVICE_USER, SERVICE_PASSWORD),
        database_replica_url=replica.url(DATABASE, SERVICE_USER, SERVICE_PASSWORD),
        replica_wait_ms=50,
        replica_max_lag_ms=300,
        home=str(tmp_path / "home"),
        audit_seal_interval_ms=20,
    )


@pytest.fixture
async def keys(servers: tuple[Server, Server]) -> Keys:
    conn = await connect(servers[0].url(DATABASE))
    try:
        made = [
            await create_key(conn, name="test", scope=scope, origins=[], actor="test")
            for scope in (Scope.DSR, Scope.CHECK)
        ]
    finally:
        await conn.close()
    return Keys(made[0].token, made[1].token)


@pytest.fixture
async def instances(replicated: Settings) -> AsyncIterator[tuple[Client, Client]]:
    """Two instances: what one records, the other has not cached."""
    first: Litestar = create_app(replicated)
    second: Litestar = create_app(replicated)
    async with AsyncTestClient(app=first) as a, AsyncTestClient(app=second) as b:
        await eventually(lambda: _replica_is(a, "ok"))
        yield a, b


@pytest.fixture
async def standby(servers: tuple[Server, Server]) -> AsyncIterator[asyncpg.Connection]:
    """A superuser session on the replica."""
    conn = await asyncpg.connect(servers[1].url(DATABASE))
    yield conn
    if not conn.is_closed():
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


async def _replica_is(client: Client, state: str) -> bool:
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    found: str = ready.json()["replica"]
    return found == state


async def _read_on_replica(replica: Server, fragment: str) -> bool:
    """Whether a session of the service on the replica has run a statement containing `fragment`."""
    conn = await asyncpg.connect(replica.url(DATABASE))
    try:
        queries = await conn.fetch("SELECT query FROM pg_stat_activity WHERE usename = $1", SERVICE_USER)
    finally:
        await conn.close()
    return any(fragment in row["query"] for row in queries)


async def _reason(client: Client, keys: Keys, subject: dict[str, Any]) -> str:
    answer = await check(client, keys, subject, purposes=["analytics"])
    found: str = answer["decisions"]["analytics"]["reason"]
    return found


async def _every_read_answers(client: Client, keys: Keys, subject_id: str, *, in_feed: bool = True) -> None:
    """History, the change feed and the request list answer (the feed, from a paused replica, may
    not list the subject's latest change yet: it is a prefix of the primary's)."""
    history = await client.get(
        f"/v1/subjects/{subject_id}/consents", params={"history": "true"}, headers=bearer(keys.record)
    )
    assert history.status_code == 200, history.text
    feed = await client.get("/v1/changes", params={"limit": 1000}, headers=bearer(keys.check))
    assert feed.status_code == 200, feed.text
    assert not in_feed or subject_id in {change["subject_id"] for change in feed.json()["changes"]}
    listed = await client.get("/v1/requests", headers=bearer(keys.record))
    assert listed.status_code == 200, listed.text


async def test_reads_go_to_the_replica_once_it_has_replayed_what_they_depend_on(
    instances: tuple[Client, Client], keys: Keys, servers: tuple[Server, Server]
) -> None:
    a, b = instances
    replica = servers[1]
    subject_id = await record(a, keys, {"device_id": "d_replica-caught-up-000000"}, {"analytics": "granted"})
    # b heard of the write through its notification; its uncached check waits for the replica to replay it.
    assert await _reason(b, keys, {"subject_id": subject_id}) == "granted"
    assert await _reason(a, keys, {"device_id": "d_replica-caught-up-000000"}) == "granted"
    assert await _read_on_replica(replica, "concerned")  # the cold read's statement
    reads = {
        f"/v1/subjects/{subject_id}/consents?history=true": ("FROM consent_events WHERE subject_id", keys.record),
        "/v1/changes?limit=1000": ("pg_snapshot_xmin", keys.check),
        "/v1/requests": ("FROM requests WHERE true", keys.record),
    }
    for path, (statement, token) in reads.items():
        response = await b.get(path, headers=bearer(token))
        assert response.status_code == 200, response.text
        assert await _read_on_replica(replica, statement), path
    # A subject's current state, without history, is read as an uncached check reads it.
    fresh = await record(a, keys, {"device_id": "d_replica-state-read-000000"}, {"analytics": "granted"})
    before = _logged_count(replica, "concerned")
    state = await b.get(f"/v1/subjects/{fresh}/consents", headers=bearer(keys.record))
    assert state.status_code == 200, state.text
    assert [(c["purpose"], c["status"]) for c in state.json()["consents"]] == [("analytics", "granted")]
    await eventually(lambda: _logged_count(replica, "concerned") > before)


def _logged_count(replica: Server, fragment: str) -> int:
    """How many statements in the replica's log contain `fragment` (it logs every statement)."""
    return (replica.data / "log").read_text(errors="replace").count(fragment)


def _logged_on_replica(replica: Server, fragment: str) -> bool:
    """Whether the replica's log holds a statement containing `fragment` (it logs every statement)."""
    return fragment in (replica.data / "log").read_text(errors="replace")


async def test_an_access_export_is_read_from_the_replica(
    instances: tuple[Client, Client], keys: Keys, servers: tuple[Server, Server]
) -> None:
    a, _ = instances
    replica = servers[1]
    subject_id = await record(a, keys, {"device_id": "d_replica-export-0000000000"}, {"analytics": "granted"})
    body = {"type": "access", "subject": {"subject_id": subject_id}, "jurisdiction": "gdpr", "verification": "trusted"}
    filed = await a.post("/v1/requests", json=body, headers=bearer(keys.record))
    assert filed.status_code == 201, filed.text

    async def exported() -> bool:
        shown = await a.get(f"/v1/requests/{filed.json()['id']}", headers=bearer(keys.record))
        return shown.json()["state"] == "completed" and shown.json()["export_url"] is not None

    await eventually(exported, seconds=10)
    # The export's snapshot: a repeatable-read transaction there (nothing else reads the personal record there).
    assert _logged_on_replica(replica, "FROM personal_records")


async def test_a_check_right_after_a_recording_answers_it_while_the_replica_is_paused(
    instances: tuple[Client, Client], keys: Keys, standby: asyncpg.Connection
) -> None:
    a, b = instances
    device = {"device_id": "d_replica-paused-0000000000"}
    subject_id = await record(a, keys, device, {"analytics": "granted"})
    assert await _reason(b, keys, {"subject_id": subject_id}) == "granted"
    await standby.execute("SELECT pg_wal_replay_pause()")
    await record(a, keys, device, {"analytics": "denied"})
    # Neither instance answers from before the recording: the replica has not replayed it.
    assert await _reason(b, keys, {"subject_id": subject_id}) == "denied"
    assert await _reason(b, keys, device) == "denied"
    fresh = {"device_id": "d_replica-paused-new-000000"}
    new_id = await record(a, keys, fresh, {"analytics": "granted"})
    assert await _reason(b, keys, fresh) == "granted"  # a new identifier, absent from the replica
    await _every_read_answers(b, keys, new_id, in_feed=False)
    await eventually(lambda: _replica_is(b, "lagging"), seconds=5)
    assert await _reason(b, keys, {"subject_id": new_id}) == "granted"
    await standby.execute("SELECT pg_wal_replay_resume()")
    await eventually(lambda: _replica_is(b, "ok"), seconds=5)


async def test_a_stopped_replica_leaves_every_read_to_the_primary_until_it_is_back(
    instances: tuple[Client, Client], keys: Keys, servers: tuple[Server, Server]
) -> None:
    a, b = instances
    replica = servers[1]
    replica.stop()
    try:
        device = {"device_id": "d_replica-stopped-000000000"}
        subject_id = await record(a, keys, device, {"analytics": "granted"})
        assert await _reason(b, keys, {"subject_id": subject_id}) == "granted"
        assert await _reason(b, keys, device) == "granted"
        await _every_read_answers(b, keys, subject_id)
        await eventually(lambda: _replica_is(b, "down"), seconds=5)
        await _every_read_answers(a, keys, subject_id)
    finally:
        replica.start()
    await eventually(lambda: _replica_is(b, "ok"), seconds=10)
    later = {"device_id": "d_replica-back-00000000000"}
    later_id = await record(a, keys, later, {"analytics": "granted"})
    assert await _reason(b, keys, {"subject_id": later_id}) == "granted"
    await eventually(lambda: _read_on_replica(replica, "concerned"), seconds=5)
