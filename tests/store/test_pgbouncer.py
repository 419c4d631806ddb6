"""The service through PgBouncer in transaction mode (Debian's 1.18), as docs/operations.md sets it up.

Two instances share PgBouncer, which lends them two server connections in all: consecutive
transactions of one client connection run on whichever server connection is free, so a prepared
statement kept from one to the next would be missing. `DATABASE_SESSION_URL` gives each instance's
LISTEN connection a session of its own on the server, so a withdrawal through one instance is
honoured by the other at once.

PgBouncer is Debian's package: installed here with apt when missing (as root, as `make test` installs
chromium); without it and without root the tests are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.api.app import create_app
from consent.config import Settings
from consent.service.api_keys.issuing import Scope
from tests.api.test_check import Keys, check, record
from tests.helpers import MakeKey, bearer, eventually, free_port, with_database

Client = AsyncTestClient[Litestar]
SERVER_CONNECTIONS = 2  # PgBouncer's default_pool_size: what every instance's transactions share


def _installed_pgbouncer() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("PgBouncer is not installed and apt-get cannot install it here: apt-get install pgbouncer")
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "pgbouncer"], capture_output=True, text=True, timeout=600, check=False
    )
    found = shutil.which("pgbouncer", path="/usr/sbin")
    if done.returncode != 0 or not found:
        pytest.skip(f"apt-get install pgbouncer failed: {done.stderr.strip()[-300:]}")
    return found


@pytest.fixture(scope="module")
def pgbouncer(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of the session's server; yields its URL (database `postgres`)."""
    binary = _installed_pgbouncer()
    server = urlsplit(admin_url)
    host = parse_qs(server.query).get("host", [server.hostname or "127.0.0.1"])[0]
    home = tmp_path_factory.mktemp("pgbouncer")
    port = free_port()
    user = server.username or "postgres"
    (home / "userlist.txt").write_text(f'"{user}" "{server.password or ""}"\n')
    (home / "pgbouncer.ini").write_text(
        f"""
[databases]
* = host={host} port={server.port or 5432} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/userlist.txt
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""
    )
    command = [binary, str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: run it as the owner of the server's socket directory.
        owner = Path(host).owner() if host.startswith("/") else "postgres"
        shutil.chown(home, owner)
        command[1:1] = ["-u", owner]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(eventually(lambda: _accepts(port), seconds=20))
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def through_pgbouncer(settings: Settings, database_url: str, pgbouncer: str) -> Settings:
    """`settings` with DATABASE_URL on PgBouncer and DATABASE_SESSION_URL on the server, as documented."""
    name = urlsplit(database_url).path.lstrip("/")
    return msgspec.structs.replace(
        settings, database_url=with_database(pgbouncer, name), database_session_url=database_url
    )


@pytest.fixture
async def instances(through_pgbouncer: Settings) -> AsyncIterator[tuple[Client, Client]]:
    a: Litestar = create_app(through_pgbouncer)
    b: Litestar = create_app(through_pgbouncer)
    async with AsyncTestClient(app=a) as first, AsyncTestClient(app=b) as second:
        yield first, second


@pytest.fixture
async def keys(make_key: MakeKey) -> Keys:
    return Keys((await make_key(Scope.DSR)).token, (await make_key(Scope.CHECK)).token)


async def test_two_instances_record_check_and_follow_the_feed_through_pgbouncer(
    instances: tuple[Client, Client], keys: Keys, conn: asyncpg.Connection
) -> None:
    a, b = instances
    devices = [{"device_id": f"d_bouncer-{n:020d}"} for n in range(40)]
    # Concurrent recordings and checks through both instances: many client connections, two sessions.
    subject_ids = await asyncio.gather(
        *(record(a if n % 2 else b, keys, device, {"analytics": "granted"}) for n, device in enumerate(devices))
    )
    answers = await asyncio.gather(
        *(check(b if n % 2 else a, keys, device, purposes=["analytics"]) for n, device in enumerate(devices))
    )
    assert [answer["decisions"]["analytics"]["reason"] for answer in answers] == ["granted"] * len(devices)
    assert {answer["subject_id"] for answer in answers} == set(subject_ids)
    batch = await b.post(
        "/v1/check/batch",
        json={"checks": [{"subject": {"subject_id": s}, "purposes": ["analytics"]} for s in subject_ids]},
        headers=bearer(keys.check),
    )
    assert batch.status_code == 200, batch.text
    feed = await a.get("/v1/changes", params={"limit": 1000}, headers=bearer(keys.check))
    assert feed.status_code == 200, feed.text
    assert len(feed.json()["changes"]) == len(devices)
    history = await b.get(f"/v1/subjects/{subject_ids[0]}/consents", headers=bearer(keys.record))
    assert history.status_code == 200, history.text
    # Each instance's transactions went through PgBouncer's two server sessions; only the listeners
    # (and this test's own connection) reached the server around it.
    database = await conn.fetchval("SELECT current_database()")
    sessions = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", database
    )
    assert sessions <= SERVER_CONNECTIONS + 2 + 1


async def test_a_withdrawal_through_one_instance_is_honoured_by_the_other_through_pgbouncer(
    instances: tuple[Client, Client], keys: Keys
) -> None:
    a, b = instances
    subject_id = await record(a, keys, {"user_id": "u-bouncer"}, {"analytics": "granted"})
    subject = {"subject_id": subject_id}
    assert (await check(b, keys, subject, purposes=["analytics"]))["decisions"]["analytics"]["reason"] == "granted"
    withdrawn = await a.delete(f"/v1/subjects/{subject_id}/consents/analytics", headers=bearer(keys.record))
    assert withdrawn.status_code == 200, withdrawn.text

    async def honoured() -> bool:
        answer = await check(b, keys, subject, purposes=["analytics"])
        return bool(answer["decisions"]["analytics"]["reason"] == "withdrawn")

    await eventually(honoured)  # b's cached state was dropped by the NOTIFY its listener received
