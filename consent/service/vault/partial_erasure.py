"""Erasing what no exception keeps, when the subject's data key must stay; and what every erasure deletes.

An erasure with a legal exception (`consent.service.requests.erasure`) keeps some record fields, so
it cannot crypto-shred the subject. It deletes the rest instead, and records which fields it kept
(`partial_erasures`, migration 0020): a backup restored from before it would bring the deleted
fields back, readable under the key that stayed, and `consent erasures replay` deletes them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from consent.service.subjects.identifiers import Subjects
from consent.store import consent_state, erasure
from consent.store import requests as requests_store
from consent.store import vault as vault_store
from consent.store.pool import Connection
from crypto import IDENTIFIER_KINDS

__all__ = ["EVERY_FIELD", "delete_linkable", "erase_all_but"]

EVERY_FIELD = "*"
"""Kept by a hold on every data category: no field is deleted."""


async def erase_all_but(
    conn: Connection, subjects: Subjects, subject_id: UUID, kept_fields: Sequence[str], *, erased_at: datetime
) -> None:
    """Delete the record fields and identifiers `kept_fields` does not name (the birth date too),
    and record the erasure for replay. Idempotent: a replay deletes nothing more than the first run."""
    await erasure.insert_partial_erasure(conn, subject_id, erased_at, kept_fields)
    if EVERY_FIELD in kept_fields:
        return
    await erasure.delete_record_fields(conn, subject_id, keep=kept_fields)
    for kind in IDENTIFIER_KINDS:
        if kind not in kept_fields:
            await vault_store.delete_identifiers_of_kind(conn, subject_id, kind)
    if "birth_date" not in kept_fields:
        await consent_state.set_birth_date(conn, subject_id, None)
    subjects.forget_subjects([subject_id])


async def delete_linkable(conn: Connection, subject_id: UUID, *, keeping_suffix: str) -> dict[str, int]:
    """What could still link the pseudonymous history to the person, whatever was kept: stored
    Idempotency-Key answers, messages not yet sent (but orders, whose kind ends with
    `keeping_suffix`), plain user-agent digests in proofs, and the notes and corrections stored with
    the subject's requests. How many of each."""
    return {
        "idempotency_records": await erasure.delete_idempotency_records(conn, subject_id),
        "unsent_messages": await erasure.delete_unsent_messages(conn, subject_id, keeping_suffix=keeping_suffix),
        "user_agent_digests": await erasure.strip_plain_user_agents(conn, subject_id),
        "request_notes": await requests_store.clear_ciphertexts(conn, subject_id),
    }
