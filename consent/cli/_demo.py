"""Demo API keys for a development start: one per scope, kept in `$CONSENT_HOME/demo-keys.json`.

The publishable (`collect`) key is bound to the service's own origins, for the demo shop at
`/demo`. Tokens are stored in the database only as hashes, so to show them again on the
next `make run` the development home keeps them in a file readable by its
owner only. Never used outside development mode.
"""

from __future__ import annotations

import os

import msgspec

from consent.cli._context import CLI_ACTOR
from consent.config import Settings
from consent.service.api_keys.issuing import Scope, active_key, create_key, still_valid
from consent.store.pool import Connection

__all__ = ["ensure_demo_keys"]


def _demo_origins(settings: Settings) -> list[str]:
    return [f"http://{host}:{settings.port}" for host in ("127.0.0.1", "localhost")]


async def ensure_demo_keys(conn: Connection, settings: Settings) -> dict[str, str]:
    path = settings.home / "demo-keys.json"
    if path.exists():
        tokens = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
        if set(tokens) == {scope.value for scope in Scope} and await still_valid(conn, tokens.values()):
            collect = await active_key(conn, tokens[Scope.COLLECT.value])
            # The demo shop posts from the service's own origin: a start on another port needs a new key.
            if collect is not None and set(collect.origins) == set(_demo_origins(settings)):
                return tokens
    tokens = {}
    for scope in Scope:
        origins = _demo_origins(settings) if scope is Scope.COLLECT else []
        created = await create_key(conn, name=f"demo-{scope.value}", scope=scope, origins=origins, actor=CLI_ACTOR)
        tokens[scope.value] = created.token
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(msgspec.json.format(msgspec.json.encode(tokens)))
    return tokens
