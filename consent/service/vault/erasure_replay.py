"""Carrying erasures over to a restored backup: exporting tombstones, and replaying them.

A backup taken before an erasure still holds the erased subject's wrapped data
key. Every erasure leaves a tombstone (subject id and time, nothing personal),
so before a restored database serves, the tombstones recorded since its backup
are exported from the newer database and replayed into the restored one. An
erasure that kept some fields under a legal exception kept the data key too; it
is exported with the fields it kept, and replayed by deleting the rest again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import msgspec

from consent.service import audit
from consent.service.requests.orders import ORDER_SUFFIX
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.partial_erasure import delete_linkable, erase_all_but
from consent.service.vault.personal_records import erase_subject_keys
from consent.store import erasure
from consent.store import vault as store
from consent.store.pool import Connection
from consent.store.vault import TombstoneRow

__all__ = ["Replayed", "TombstoneRow", "replay_erasures", "tombstones_since"]


class Replayed(msgspec.Struct, kw_only=True, frozen=True):
    replayed: int
    data_keys_destroyed: int
    already_erased: int
    partial: int = 0
    """Of `replayed`: erasures that kept some fields (and the data key), applied again."""


def tombstones_since(conn: Connection, since: datetime) -> AsyncIterator[TombstoneRow]:
    """Tombstones and partial erasures recorded at or after `since`, oldest first (memory stays flat)."""
    return erasure.iter_erasures(conn, since)


async def replay_erasures(
    conn: Connection, subjects: Subjects, tombstones: Sequence[TombstoneRow], *, source: str, actor: str
) -> Replayed:
    """For each subject not yet erased here: destroy its data key and lookup identifiers and record
    the tombstone with its original time, one transaction each; subjects already tombstoned are left
    as they are, so a replay can be repeated. A partial erasure deletes again what it did not keep
    (and is recorded here too), unless the subject has been erased entirely here. The replay itself
    is audited."""
    replayed = destroyed = partial = 0
    for tombstone in tombstones:
        async with conn.transaction():
            if await store.is_tombstoned(conn, tombstone.subject_id):
                continue
            if tombstone.kept_fields is not None:
                kept = tombstone.kept_fields
                await erase_all_but(conn, subjects, tombstone.subject_id, kept, erased_at=tombstone.erased_at)
                await delete_linkable(conn, tombstone.subject_id, keeping_suffix=ORDER_SUFFIX)
                partial += 1
            else:
                # Inserted first, so the tombstone keeps the original time of the erasure.
                await store.insert_tombstone(conn, tombstone.subject_id, tombstone.erased_at)
                destroyed += await erase_subject_keys(conn, subjects, tombstone.subject_id, actor=actor)
            replayed += 1
    outcome = Replayed(
        replayed=replayed, data_keys_destroyed=destroyed, already_erased=len(tombstones) - replayed, partial=partial
    )
    await audit.record(
        conn,
        audit.AuditEntry(
            actor=actor,
            action="erasures.replay",
            detail={"source": source, "tombstones": len(tombstones), **msgspec.structs.asdict(outcome)},
        ),
    )
    return outcome
