"""The change feed: every consent change in commit order, for downstream copies to follow.

A follower asks for changes after a cursor and never misses one, even when
writers commit out of order: events are handed out in (writing transaction,
event id) order, and only from transactions older than the oldest one still
running, so nothing can later appear before a cursor that was already passed.
A long poll (`wait`) sleeps until some instance commits a change.

The feed may read a replica (`consent.service.replica`), whatever its lag: a replica's snapshot
is the primary's of a moment ago, so what it hands out is a prefix of what the primary would, in
the same order, and a cursor from either is valid on the other (a lagging replica answers with
fewer changes, never with a gap).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from datetime import datetime
from uuid import UUID

import msgspec

from consent.errors import InvalidInput
from consent.service.foreground import FOREGROUND
from consent.service.replica import Reads
from consent.store import consent_events as store
from consent.store.notifications import Notifications

__all__ = ["Change", "ChangeFeed", "FeedPage", "decode_cursor", "encode_cursor"]

_START = (0, UUID(int=0))


class Change(msgspec.Struct, kw_only=True, frozen=True):
    event_id: UUID
    subject_id: UUID
    purpose: str
    status: str
    action: str
    source: str
    jurisdiction: str
    property: str
    notice_version: int
    policy_version: int
    gpc: bool
    recorded_at: datetime
    cursor: str


class FeedPage(msgspec.Struct, kw_only=True, frozen=True):
    changes: list[Change]
    next: str
    """Pass as `after` to continue; equal to the request's cursor when nothing was new."""


def encode_cursor(txid: int, event_id: UUID) -> str:
    return base64.urlsafe_b64encode(txid.to_bytes(8, "big") + event_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> tuple[int, UUID]:
    if not cursor:
        return _START
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 24:
        raise InvalidInput("not a cursor this feed handed out", field="after")
    return int.from_bytes(raw[:8], "big"), UUID(bytes=raw[8:])


class ChangeFeed:
    def __init__(self, reads: Reads, notifications: Notifications) -> None:
        self._reads = reads
        self._changed = asyncio.Event()
        notifications.subscribe("consent_state", self._signal, on_reset=lambda: self._signal(""))

    def _signal(self, _payload: str) -> None:
        self._changed.set()

    async def page(self, after: str | None, *, limit: int, wait: float) -> FeedPage:
        txid, event_id = decode_cursor(after)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            self._changed.clear()
            rows = await self._reads.run(lambda db: store.fetch_feed(db, txid, event_id, limit))
            remaining = deadline - loop.time()
            if rows or remaining <= 0:
                break
            # Woken by a commit anywhere; the short cap covers a commit still hidden behind an older
            # transaction, which becomes visible without a further notification.
            with contextlib.suppress(TimeoutError), FOREGROUND.waiting():  # asleep: background work may run
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
        changes = [
            Change(
                event_id=row.id,
                subject_id=row.subject_id,
                purpose=row.purpose,
                status=row.status,
                action=row.action,
                source=row.source,
                jurisdiction=row.jurisdiction,
                property=row.property,
                notice_version=row.notice_version,
                policy_version=row.policy_version,
                gpc=row.gpc,
                recorded_at=row.recorded_at,
                cursor=encode_cursor(row.txid, row.id),
            )
            for row in rows
        ]
        return FeedPage(changes=changes, next=changes[-1].cursor if changes else encode_cursor(txid, event_id))
