"""`consent serve` stops when told to, even while a worker is still starting."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from consent.cli._serve import WORKER_KILL_TIMEOUT
from consent.store.pool import connect
from tests.helpers import eventually
from tests.processes import consent_serve, development_environment


async def test_ctrl_c_while_a_worker_starts_stops_the_server(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    # The worker's start-up enqueues the housekeeping job; holding the jobs table keeps it starting.
    holder = await connect(database_url)
    held = holder.transaction()
    await held.start()
    await holder.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
    server, _ = consent_serve(development_environment(tmp_path / "home", DATABASE_URL=database_url), log)
    try:
        waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'jobs'::regclass AND NOT granted"
        await eventually(lambda: holder.fetchval(waiting), seconds=90, interval=0.1)  # the worker is starting
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the server and its worker, then granian's SIGTERM
        await eventually(lambda: server.poll() is not None, seconds=WORKER_KILL_TIMEOUT + 30, interval=0.2)
    finally:
        await held.rollback()
        await holder.close()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
