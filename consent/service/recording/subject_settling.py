"""Resolving and creating the subjects of a batch of consent writes, in a handful of statements.

A banner's first choice is usually a new visitor: every write of a batch may
need its subject created. Two ways, both a few statements per batch:

- `plan_subjects` (the usual one) plans a new subject for each identifier
  outside any transaction, without looking it up first; the batch statement
  then creates them while claiming their identifiers
  (`consent.store.consent_batch.create_and_write_batch`), and reports those
  another subject holds, which are looked up (through the check path's
  coalesced reads) and written again.
- `settle_subjects` (the locking one, when a claim fails or the batch needs a
  transaction) locks the identifiers, looks them up and creates the missing
  ones in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from consent.service.checking.cold_reads import ColdReads, Resolved
from consent.service.checking.state_cache import EMPTY, SubjectSnapshot, snapshot_of
from consent.service.subjects.identifiers import Identifier, Subjects, holders_by_index
from consent.store import consent_state as state_store
from consent.store import vault as vault_store
from consent.store.pool import Connection
from consent.store.vault import NewSubjects

__all__ = ["Planned", "Settled", "plan_subjects", "settle_subjects", "token_of"]

Settled = tuple[dict[bytes, UUID], dict[UUID, SubjectSnapshot]]


class Planned(NamedTuple):
    """Subject ids (existing or planned) by token, snapshots, the subjects to create, and the
    subjects seen holding the new identifiers' blind indexes (collisions of truncated indexes)."""

    found: dict[bytes, UUID]
    snapshots: dict[UUID, SubjectSnapshot]
    new: NewSubjects
    seen: list[UUID]


async def _confirm(
    subjects: Subjects, identifiers: list[Identifier], resolved: Resolved, generations: tuple[int, int, int]
) -> tuple[dict[bytes, UUID], dict[UUID, SubjectSnapshot], dict[tuple[str, bytes], list[UUID]]]:
    """Which resolved candidate really holds each identifier; snapshots; candidate ids per index."""
    candidates, stored = resolved
    by_index = holders_by_index(candidates)
    found: dict[bytes, UUID] = {}
    for identifier in identifiers:
        holders = by_index.get((identifier.kind, subjects.index_of(identifier)), [])
        subject_id = await subjects.confirm(identifier, holders, generations)
        if subject_id is not None:
            found[token_of(subjects, identifier)] = subject_id
    snapshots = {subject_id: snapshot_of(stored.get(subject_id)) for subject_id in {*stored, *found.values()}}
    seen = {key: [holder.subject_id for holder in holders] for key, holders in by_index.items()}
    return found, snapshots, seen


def _one_per_identifier(
    subjects: Subjects, identifiers: list[tuple[Identifier, UUID]]
) -> dict[bytes, tuple[Identifier, UUID]]:
    wanted: dict[bytes, tuple[Identifier, UUID]] = {}
    for identifier, planned in identifiers:
        wanted.setdefault(token_of(subjects, identifier), (identifier, planned))  # one subject per identifier
    return wanted


async def plan_subjects(
    reads: ColdReads,
    subjects: Subjects,
    identifiers: list[tuple[Identifier, UUID]],
    subject_ids: set[UUID],
    now: datetime,
    *,
    look_up: Collection[Identifier] = (),
) -> Planned:
    """Plan the subjects of (identifier, planned id) pairs without a transaction; read the snapshots
    of the subjects named by id. Nothing is written: the caller creates `new` while claiming their
    identifiers (`consent.store.consent_batch.create_and_write_batch`).

    Only the identifiers in `look_up` are looked up (their writes found them held before): any other
    one is planned as a new subject at once, since most writes that name an identifier the process
    does not remember are a new visitor's first choice. If another subject holds it after all, the
    statement says so and writes nothing for it; the caller then asks again with it in `look_up`.
    """
    wanted = _one_per_identifier(subjects, identifiers)
    asked = {token_of(subjects, identifier) for identifier in look_up}
    pairs = [pair for token, pair in wanted.items() if token in asked]
    found: dict[bytes, UUID] = {}
    snapshots: dict[UUID, SubjectSnapshot] = {}
    holders: dict[tuple[str, bytes], list[UUID]] = {}
    if pairs or subject_ids:
        generations = subjects.generations()
        resolved = await reads.resolve(
            [i.kind for i, _ in pairs], [subjects.index_of(i) for i, _ in pairs], list(subject_ids)
        )
        found, snapshots, holders = await _confirm(subjects, [i for i, _ in pairs], resolved, generations)
    fresh = [pair for token, pair in wanted.items() if token not in found]
    seen = [
        held for identifier, _ in fresh for held in holders.get((identifier.kind, subjects.index_of(identifier)), [])
    ]
    for identifier, planned in fresh:
        found[token_of(subjects, identifier)] = planned
        snapshots[planned] = EMPTY
    return Planned(found, snapshots, await subjects.new_subjects(fresh, now), seen)


async def settle_subjects(
    conn: Connection,
    subjects: Subjects,
    identifiers: list[tuple[Identifier, UUID]],
    subject_ids: set[UUID],
    now: datetime,
) -> Settled:
    """Subject ids for (identifier, planned id) pairs, creating the missing ones under their planned
    ids, and the snapshots of every subject concerned (new ones are EMPTY). Caller's transaction.

    The identifiers are locked first (in one statement, in a fixed order), so the lookup that
    follows is final: no other writer can create one of them until this transaction ends.
    """
    wanted = _one_per_identifier(subjects, identifiers)
    pairs = list(wanted.values())
    kinds: list[str] = [identifier.kind for identifier, _ in pairs]
    indexes = [subjects.index_of(identifier) for identifier, _ in pairs]
    if pairs:
        await vault_store.lock_identifiers(conn, kinds, indexes)
    generations = subjects.generations()
    resolved = await state_store.resolve(conn, kinds, indexes, list(subject_ids))
    found, snapshots, _ = await _confirm(subjects, [i for i, _ in pairs], resolved, generations)
    fresh = [pair for token, pair in wanted.items() if token not in found]
    if fresh:
        await vault_store.insert_new_subjects(conn, await subjects.new_subjects(fresh, now))
        for identifier, planned in fresh:
            found[token_of(subjects, identifier)] = planned
            snapshots[planned] = EMPTY
    return found, snapshots


def token_of(subjects: Subjects, identifier: Identifier) -> bytes:
    """The key `settle_subjects` and `plan_subjects` file an identifier's subject id under."""
    return identifier.kind.encode() + b"\x00" + subjects.index_of(identifier) + b"\x00" + identifier.value.encode()
