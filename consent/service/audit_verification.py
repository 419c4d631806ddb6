"""Checking the audit trail, and proving one entry to an auditor who trusts only the audit keys.

:func:`verify_trail` recomputes everything from the rows: each checkpoint's
signature (against the audit public keys), its link to the one before, the
Merkle root of the entries it covers (each leaf from the entry's own content),
and that the checkpoints cover every entry in position order with nothing
missing or added. Entries after the last checkpoint are reported as pending.
It writes nothing. Only a head kept elsewhere (`expect_head`) can tell a trail
whose newest checkpoints and entries were deleted from one that never had them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from uuid import UUID

import msgspec

from consent.errors import Conflict, NotFound
from consent.service.audit import entry_document
from consent.store import audit as audit_store
from consent.store.audit import CheckpointRow, StoredAuditRow
from consent.store.pool import Connection
from crypto import (
    GENESIS_HASH,
    PublicKeySet,
    ReadCheckpoint,
    VerificationFailed,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    read_checkpoint,
)

__all__ = ["InclusionProof", "TrailReport", "prove_entry", "verify_trail"]


class TrailReport(msgspec.Struct, kw_only=True, frozen=True):
    """What `consent audit verify` found."""

    ok: bool
    checkpoints: int  # checkpoints that verified
    sealed: int  # entries those checkpoints cover
    pending: int  # entries after the last checkpoint (none if broken)
    head_seq: int | None  # the last checkpoint that verified
    head_hash: str | None
    broken_at: int | None = None  # the checkpoint that failed
    entry_id: str | None = None  # the entry found edited, when one can be named
    problem: str | None = None


class InclusionProof(msgspec.Struct, kw_only=True, frozen=True):
    """`consent audit proof`: what an auditor needs to check one entry offline (docs/security.md)."""

    entry: str  # the entry's canonical JSON; its leaf is SHA-256(0x00 || SHA-256(UTF-8 bytes))
    leaf_index: int
    tree_size: int
    path: list[str]  # hex, from the leaf upwards (RFC 6962 audit path)
    checkpoint: str  # the signed checkpoint (compact JWS, typ consent-audit-checkpoint)
    checkpoint_hash: str  # hex SHA-256 of its payload


class _Broken(Exception):
    def __init__(self, problem: str, entry_id: UUID | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.entry_id = entry_id


class _Entries:
    """The entries in position order, taken a checkpoint's worth at a time."""

    def __init__(self, rows: AsyncIterator[StoredAuditRow]) -> None:
        self._rows = rows

    async def take(self, count: int) -> list[StoredAuditRow]:
        taken: list[StoredAuditRow] = []
        async for row in self._rows:
            taken.append(row)
            if len(taken) == count:
                break
        return taken

    async def rest(self) -> list[StoredAuditRow]:
        return [row async for row in self._rows]


def _edited(rows: list[StoredAuditRow]) -> StoredAuditRow | None:
    """The first entry whose content no longer matches the hash it was written with."""
    return next((row for row in rows if hashlib.sha256(entry_document(row)).digest() != row.content_hash), None)


def _check_checkpoint(row: CheckpointRow, read: ReadCheckpoint, seq: int, prev: bytes, size: int) -> None:
    stated = read.checkpoint
    if stated.seq != seq or row.seq != seq:
        raise _Broken(f"checkpoint {seq} is missing (found {row.seq})")
    if stated.prev != prev.hex():
        raise _Broken("its link to the previous checkpoint is broken")
    if stated.count < 1 or stated.size != size + stated.count:
        raise _Broken("its entry count does not follow from the previous checkpoint")
    if (row.checkpoint_hash, row.last_position, row.size) != (read.hash, stated.last_position, stated.size):
        raise _Broken("its stored columns differ from what it signed")


def _check_entries(read: ReadCheckpoint, rows: list[StoredAuditRow], after: int) -> None:
    stated = read.checkpoint
    edited = _edited(rows)
    if edited is not None:
        raise _Broken("an entry it covers differs from the hash it was written with (edited)", edited.id)
    if len(rows) < stated.count or rows[-1].position != stated.last_position or rows[0].position <= after:
        raise _Broken("entries it covers were deleted or added")
    if merkle_root([leaf_hash(row.content_hash) for row in rows]).hex() != stated.root:
        raise _Broken("the entries it covers differ from its Merkle root")


async def verify_trail(conn: Connection, keys: PublicKeySet, *, expect_head: bytes | None = None) -> TrailReport:
    """Check the whole trail against the audit public `keys`; report the first problem.

    One read-only snapshot throughout, so a checkpoint sealed meanwhile cannot look like a gap.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _verify(conn, keys, expect_head)


async def _verify(conn: Connection, keys: PublicKeySet, expect_head: bytes | None) -> TrailReport:
    entries = _Entries(audit_store.iter_entries(conn))
    seq, prev, size, last_position = 0, GENESIS_HASH, 0, 0
    head_found = expect_head is None
    try:
        async for row in audit_store.iter_checkpoints(conn):
            seq += 1
            try:
                read = read_checkpoint(row.token, keys)
            except VerificationFailed as exc:
                raise _Broken(f"its signature does not verify: {exc}") from None
            _check_checkpoint(row, read, seq, prev, size)
            _check_entries(read, await entries.take(read.checkpoint.count), last_position)
            prev, size, last_position = read.hash, read.checkpoint.size, read.checkpoint.last_position
            head_found = head_found or read.hash == expect_head
    except _Broken as broken:
        return TrailReport(
            ok=False, checkpoints=seq - 1, sealed=size, pending=0, head_seq=seq - 1 or None,
            head_hash=prev.hex() if seq > 1 else None, broken_at=seq,
            entry_id=str(broken.entry_id) if broken.entry_id else None, problem=broken.problem,
        )  # fmt: skip
    pending = await entries.rest()
    edited = _edited(pending)
    problem = None
    if not head_found:
        problem = "the expected head is not a checkpoint of this trail: it was truncated or replaced"
    elif edited is not None:
        problem = "an entry not yet sealed differs from the hash it was written with"
    return TrailReport(
        ok=problem is None, checkpoints=seq, sealed=size, pending=len(pending), head_seq=seq or None,
        head_hash=prev.hex() if seq else None, entry_id=str(edited.id) if edited else None, problem=problem,
    )  # fmt: skip


async def prove_entry(conn: Connection, entry_id: UUID) -> InclusionProof:
    """The inclusion proof of one entry in its checkpoint; NotFound, or Conflict while it is not sealed."""
    entry = await audit_store.fetch_entry(conn, entry_id)
    if entry is None:
        raise NotFound("no audit entry has this id", field="entry_id")
    if hashlib.sha256(entry_document(entry)).digest() != entry.content_hash:
        raise Conflict("this audit entry differs from the hash it was written with: run `consent audit verify`")
    covering = await audit_store.fetch_checkpoint_covering(conn, entry.position)
    if covering is None:
        raise Conflict("this audit entry is not in a checkpoint yet; try again in a moment", field="entry_id")
    checkpoint, after = covering
    rows = await audit_store.fetch_leaves(conn, after, checkpoint.last_position, checkpoint.size)
    leaves = [leaf_hash(row.content_hash) for row in rows]
    index = next(i for i, row in enumerate(rows) if row.position == entry.position)
    return InclusionProof(
        entry=entry_document(entry).decode(),
        leaf_index=index,
        tree_size=len(leaves),
        path=[node.hex() for node in inclusion_proof(leaves, index)],
        checkpoint=checkpoint.token,
        checkpoint_hash=checkpoint.checkpoint_hash.hex(),
    )
