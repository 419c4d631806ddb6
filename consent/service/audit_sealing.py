"""Sealing the audit trail: signed checkpoints over the entries committed since the last one.

A checkpoint covers the entries after the previous checkpoint's last position, up
to a position below which nothing can still appear. Positions come from a
sequence, so transactions commit out of order: position 8 may be visible while
the transaction holding 7 is still open, and 7 may yet commit. The sealer
therefore works from a *horizon*: it reads the last position drawn, then the
snapshot's xmax (every transaction holding one of those positions took its xid
first, so its xid is below that xmax, see migration 0012). Once the oldest
running transaction is at or past that xmax, every position up to the horizon is
final: committed and visible, or rolled back for good. Only then is it sealed.
A long transaction delays sealing; none can leave an entry outside a checkpoint.

Every instance runs the sealer (`consent.jobs.audit_sealer`); a transaction-scoped
advisory lock lets one at a time append, so the chain of checkpoints stays linear.
"""

from __future__ import annotations

from datetime import UTC, datetime

from consent.store import audit as audit_store
from consent.store.audit import CheckpointRow, Horizon
from consent.store.pool import Connection
from crypto import GENESIS_HASH, Checkpoint, SigningKeyRing, leaf_hash, merkle_root, sign_checkpoint

__all__ = ["Sealer"]


class Sealer:
    """Writes checkpoints; keep one per process, as it remembers its horizon between rounds.

    >>> sealer = Sealer(runtime.keys.audit_keys)
    >>> await sealer.seal(conn)   # entries covered by the checkpoint written, 0 if none
    """

    def __init__(self, keys: SigningKeyRing, *, batch: int = 5000) -> None:
        self._keys = keys
        self.batch = batch
        self._horizon: Horizon | None = None

    async def seal(self, conn: Connection) -> int:
        """Write at most one checkpoint; returns how many entries it covers (0: none written).

        Call again at once while it returns `batch`; an entry committed now is covered from the
        second round on, once the transactions running now have ended.
        """
        async with conn.transaction():
            if not await audit_store.lock_sealer(conn):
                return 0
            if self._horizon is None:
                self._horizon = await audit_store.capture_horizon(conn)
            horizon = self._horizon
            if not await audit_store.horizon_passed(conn, horizon):
                return 0
            last = await audit_store.fetch_last_checkpoint(conn)
            after = last.last_position if last is not None else 0
            entries = await audit_store.fetch_leaves(conn, after, horizon.position, self.batch)
            if len(entries) < self.batch:
                # Everything up to the horizon is in hand: the next round waits for a new one.
                self._horizon = await audit_store.capture_horizon(conn)
            if not entries:
                return 0
            # The previous hash comes from its row: the service's role cannot change a checkpoint, and
            # should someone with more rights do so, `consent audit verify` finds the broken link.
            prev = last.checkpoint_hash if last is not None else GENESIS_HASH
            now = datetime.now(UTC)
            checkpoint = Checkpoint(
                seq=(last.seq if last is not None else 0) + 1,
                count=len(entries),
                size=(last.size if last is not None else 0) + len(entries),
                last_position=entries[-1].position,
                root=merkle_root([leaf_hash(e.content_hash) for e in entries]).hex(),
                prev=prev.hex(),
                signed_at=now.isoformat(timespec="microseconds"),
            )
            signed = sign_checkpoint(checkpoint, self._keys)
            await audit_store.insert_checkpoint(
                conn,
                CheckpointRow(
                    seq=checkpoint.seq,
                    last_position=checkpoint.last_position,
                    size=checkpoint.size,
                    checkpoint_hash=signed.hash,
                    token=signed.token,
                    signed_at=now,
                ),
            )
            return len(entries)
