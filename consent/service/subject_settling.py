"""Resolving and creating the subjects of a batch of consent writes, in a handful of statements.

A banner's first choice is usually a new visitor: every write of a batch may
need its subject created. Doing that one by one costs seven round trips each;
here a whole batch costs three statements: lock its identifiers, look them up
(candidates and state rows together), create those still unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from consent.service.state_cache import EMPTY, SubjectSnapshot, snapshot_of
from consent.service.subjects import Identifier, Subjects
from consent.store import consent_state as state_store
from consent.store import vault as vault_store
from consent.store.pool import Connection

__all__ = ["Settled", "settle_subjects", "token_of"]

Settled = tuple[dict[bytes, UUID], dict[UUID, SubjectSnapshot]]


async def _lookup(
    conn: Connection, subjects: Subjects, identifiers: list[Identifier], subject_ids: Iterable[UUID]
) -> Settled:
    """Subject ids of the identifiers that exist (keyed by blind index + value), and snapshots."""
    generations = subjects.generations()
    kinds: list[str] = [i.kind for i in identifiers]
    indexes = [subjects.index_of(i) for i in identifiers]
    candidates, rows = await state_store.resolve(conn, kinds, indexes, list(subject_ids))
    by_index: dict[tuple[str, bytes], list[tuple[UUID, bytes, int, bytes]]] = {}
    for row in candidates:
        by_index.setdefault((row["kind"], bytes(row["blind_index"])), []).append(
            (row["subject_id"], bytes(row["ciphertext"]), row["master_version"], bytes(row["wrapped_key"]))
        )
    found: dict[bytes, UUID] = {}
    for identifier, index in zip(identifiers, indexes, strict=True):
        subject_id = await subjects.confirm(identifier, by_index.get((identifier.kind, index), []), generations)
        if subject_id is not None:
            found[_token(identifier, index)] = subject_id
            rows.setdefault(subject_id, [])
    return found, {subject_id: snapshot_of(subject_rows) for subject_id, subject_rows in rows.items()}


def _token(identifier: Identifier, index: bytes) -> bytes:
    return identifier.kind.encode() + b"\x00" + index + b"\x00" + identifier.value.encode()


async def _create(
    conn: Connection, subjects: Subjects, wanted: dict[bytes, tuple[Identifier, UUID]], now: datetime
) -> None:
    ids: list[UUID] = []
    versions: list[int] = []
    wrapped_keys: list[bytes] = []
    kinds: list[str] = []
    indexes: list[bytes] = []
    ciphertexts: list[bytes] = []
    for identifier, subject_id in wanted.values():
        key, wrapped = await subjects.data_keys.new_wrapped(subject_id)
        ids.append(subject_id)
        versions.append(wrapped.master_version)
        wrapped_keys.append(wrapped.blob)
        kinds.append(identifier.kind)
        indexes.append(subjects.index_of(identifier))
        ciphertexts.append(subjects.ciphertext(key, subject_id, identifier))
    await vault_store.insert_new_subjects(
        conn,
        subject_ids=ids,
        master_versions=versions,
        wrapped_keys=wrapped_keys,
        kinds=kinds,
        blind_indexes=indexes,
        ciphertexts=ciphertexts,
        created_at=now,
    )


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
    wanted: dict[bytes, tuple[Identifier, UUID]] = {}
    for identifier, planned in identifiers:
        wanted.setdefault(token_of(subjects, identifier), (identifier, planned))  # one subject per identifier
    pairs = list(wanted.values())
    if pairs:
        kinds: list[str] = [identifier.kind for identifier, _ in pairs]
        await vault_store.lock_identifiers(conn, kinds, [subjects.index_of(i) for i, _ in pairs])
    found, snapshots = await _lookup(conn, subjects, [i for i, _ in pairs], subject_ids)
    fresh = {token: pair for token, pair in wanted.items() if token not in found}
    if fresh:
        await _create(conn, subjects, fresh, now)
        for token, (_identifier, planned) in fresh.items():
            found[token] = planned
            snapshots[planned] = EMPTY
    return found, snapshots


def token_of(subjects: Subjects, identifier: Identifier) -> bytes:
    """The key `settle_subjects` files an identifier's subject id under."""
    return _token(identifier, subjects.index_of(identifier))
