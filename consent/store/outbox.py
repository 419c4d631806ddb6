"""The `outbox` rows consent writes enqueue: one message per recipient, delivered by a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

__all__ = ["OutboxRow"]


class OutboxRow(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One message to a recipient, as the batch writer enqueues it (`consent.store.consent_batch`)."""

    id: UUID
    recipient: str
    subject_id: UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime
