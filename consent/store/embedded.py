"""The embedded PostgreSQL: the default store, started by the service itself.

`pgserver` ships PostgreSQL binaries inside its wheel, so nothing needs to be
installed on the machine. The server listens only on a Unix socket inside the
data directory. As root, pgserver runs PostgreSQL as a dedicated system user,
since PostgreSQL refuses to run as root.

>>> db = EmbeddedPostgres.start(Path(".consent"))
>>> db.url("consent")
'postgresql://postgres:@/consent?host=...'
>>> db.stop()
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A running PostgreSQL whose data directory is `home/pgdata`."""

    def __init__(self, server: Any, pgdata: Path) -> None:
        self._server = server
        self.pgdata = pgdata

    @classmethod
    def start(cls, home: Path) -> EmbeddedPostgres:
        """Start (or attach to an already running) server; a second start reuses the data."""
        with warnings.catch_warnings():
            # pgserver reads XDG_RUNTIME_DIR at import and warns when it is unset; /tmp is fine.
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415 (lazily: only the embedded mode needs it)

        home.mkdir(parents=True, exist_ok=True)
        pgdata = (home / "pgdata").resolve()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        return cls(server, pgdata)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL for `database` on this server (a Unix socket; `postgres` is the superuser)."""
        return str(self._server.get_postmaster_info().get_uri(user=user, database=database))

    def stop(self) -> None:
        """Stop the server if this process holds its last handle (among processes still alive)."""
        _forget_dead_handles(self._server, self.pgdata)
        self._server.cleanup()


def _forget_dead_handles(server: Any, pgdata: Path) -> None:
    """Drop the handles of processes that died without releasing theirs.

    pgserver counts the processes using a server in `pgdata/.handle_pids.json` and stops the server
    when the last one releases its handle at exit. A process killed with SIGKILL never does: its pid
    stayed listed, so every later process on the same data directory left PostgreSQL running when it
    stopped. Read and rewritten under pgserver's own lock, as it does.
    """
    from pgserver.utils import DiskList, process_is_running  # noqa: PLC0415 (imported with pgserver)

    with server._lock:
        handles = DiskList(pgdata / ".handle_pids.json")
        listed = handles.get()
        alive = [pid for pid in listed if process_is_running(pid)]
        if alive != listed:
            log.info(
                "forgetting %d handle(s) of processes that died holding the embedded PostgreSQL",
                len(listed) - len(alive),
            )
            handles.put(alive)
