"""Helpers shared by the tests: plain functions and types, imported where needed (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from consent.runtime import Runtime
from consent.service.api_keys.issuing import CreatedKey
from consent.service.recording.prepare import Action, Choice, RecordingRequest, RecordOut, Source
from consent.service.requests.intake import NewRequestIn, Verification
from consent.service.subjects.identifiers import Identifier
from consent.store.pool import Connection
from policies import Jurisdiction, RequestType

__all__ = [
    "FakeClock",
    "MakeKey",
    "bearer",
    "choices",
    "eventually",
    "grant_analytics",
    "stored",
    "trusted_filing",
    "with_database",
    "with_user",
]

MakeKey = Callable[..., Awaitable[CreatedKey]]


def with_database(url: str, name: str) -> str:
    """`url` with its database name replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_user(url: str, user: str, password: str) -> str:
    """`url` logging in as `user` with `password` instead."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def choices(**overrides: Any) -> dict[str, Any]:
    """A banner's "save choices" for one visitor: analytics yes, marketing email no."""
    body: dict[str, Any] = {
        "subject": {"device_id": "d_7Hq2visitor-0000000000"},
        "property": "shop",
        "jurisdiction": "gdpr",
        "language": "en",
        "action": "save_choices",
        "decisions": [
            {"purpose": "analytics", "status": "granted", "notice_version": 2},
            {"purpose": "marketing_email", "status": "denied", "notice_version": 1},
        ],
    }
    body.update(overrides)
    return body


async def stored(conn: Connection) -> tuple[int, int]:
    """(consent events, consent state rows) in the database."""
    events = await conn.fetchval("SELECT count(*) FROM consent_events")
    states = await conn.fetchval("SELECT count(*) FROM consent_state")
    return events, states


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], *, seconds: float = 10.0, interval: float = 0.01
) -> None:
    """Wait until `condition()` (sync or async) is true; fail the test if it is still false after `seconds`.

    For what happens asynchronously (a background job, a notification): a fixed sleep is too short on
    a loaded machine and wasted time on an idle one. `seconds` bounds a stalled machine, it is not an
    expectation, so keep it generous; assert a latency target separately, with a clock.

        await eventually(lambda: runtime.policy.current.version == 2)
    """
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"still false after {seconds} s: {condition!r}")
        await asyncio.sleep(interval)


def trusted_filing(
    runtime: Runtime,
    email: str,
    request_type: RequestType = RequestType.ACCESS,
    jurisdiction: Jurisdiction = Jurisdiction.GDPR,
    **details: Any,
) -> NewRequestIn:
    """A request by email that a compliance tool files, asserting it verified the person."""
    return NewRequestIn(
        type=request_type,
        subject=runtime.subjects.identifier("email", email),
        jurisdiction=jurisdiction,
        verification=Verification.TRUSTED,
        actor="test",
        trusted_caller=True,
        **details,
    )


def keep_exports_waiting(runtime: Runtime) -> None:
    """Access and portability requests filed from now on wait in progress with no job (no export is
    built): for tests of the workflow's rules, which need an open request."""
    for request_type in (RequestType.ACCESS, RequestType.PORTABILITY):
        runtime.execution.unregister(request_type)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FakeClock:
    """A clock a test moves by hand (`clock.now += 0.5`), for code that takes `clock=time.monotonic`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# The current notice of each purpose in policies/examples/shop.toml, where it is not 1.
NOTICE_VERSIONS = {"analytics": 2, "partner_sharing": 3}


async def record_through_service(
    runtime: Runtime,
    identifier: Identifier,
    choices: dict[str, str],
    *,
    jurisdiction: Jurisdiction = Jurisdiction.GDPR,
    language: str | None = None,
) -> RecordOut:
    """Record `choices` ({purpose: status}, at each purpose's current notice) through the service, as
    the API would for a `dsr` key."""
    recorded = await runtime.consents.record(
        runtime.policy.current,
        RecordingRequest(
            identifier=identifier,
            property="shop",
            jurisdiction=jurisdiction,
            language=language,
            action=Action.API,
            choices=[
                Choice(purpose=purpose, status=status, notice_version=NOTICE_VERSIONS.get(purpose, 1))
                for purpose, status in choices.items()
            ],
            gpc=False,
            client_at=None,
            proof={},
            actor="test",
            source=Source.API,
        ),
    )
    assert isinstance(recorded, RecordOut)
    return recorded


async def grant_analytics(runtime: Runtime, device: str = "d_webhook-00000000000000") -> RecordOut:
    """`device`'s grant of `analytics`."""
    return await record_through_service(
        runtime, runtime.subjects.identifier("device_id", device), {"analytics": "granted"}
    )
