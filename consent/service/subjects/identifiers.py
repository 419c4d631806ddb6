"""Finding subjects by identifier, through blind indexes, and attaching identifiers to them.

An identifier (user id, email, phone, device id) is normalised, blind-indexed,
and stored as that index plus its ciphertext under the subject's data key.
Indexes are deliberately short, so a lookup yields candidates; each is
confirmed by decrypting its ciphertext and comparing, so a collision never
returns the wrong person.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from consent.errors import Conflict, InvalidInput
from consent.ids import uuid7
from consent.service.subjects.memos import Memos
from consent.service.vault.data_keys import DataKeys
from consent.store import vault as store
from consent.store.consent_state import IdentifierCandidate
from consent.store.notifications import Notifications
from consent.store.pool import Connection, Pool
from crypto import (
    DataKey,
    DecryptionFailed,
    IdentifierKind,
    IndexKey,
    InvalidIdentifier,
    decrypt_field_text,
    encrypt_field,
    normalise_identifier,
)

__all__ = ["Identifier", "Subjects", "holders_by_index", "index_tag"]


def holders_by_index(candidates: Iterable[IdentifierCandidate]) -> dict[tuple[str, bytes], list[IdentifierCandidate]]:
    """Candidates by (kind, blind index), as `Subjects.confirm` takes them."""
    by_index: dict[tuple[str, bytes], list[IdentifierCandidate]] = {}
    for candidate in candidates:
        by_index.setdefault((candidate.kind, candidate.blind_index), []).append(candidate)
    return by_index


TABLE = "subject_identifiers"


def index_tag(kind: str, blind_index: bytes) -> str:
    """`kind:hex` of a blind index: how a notification names an added identifier (migration 0019)."""
    return f"{kind}:{blind_index.hex()}"


class Identifier:
    """A normalised identifier; its repr never shows the value.

    It remembers its blind index and cache key once computed: one request asks
    for them several times (lookup, lock, creation), and each is a keyed hash.
    """

    __slots__ = ("index", "kind", "memo", "value")

    def __init__(self, kind: IdentifierKind, value: str) -> None:
        self.kind = kind
        self.value = value
        self.index: bytes | None = None
        self.memo: bytes | None = None

    def __repr__(self) -> str:
        return f"Identifier({self.kind}, [REDACTED])"


class Subjects:
    """Identifier lookups for this process, with bounded caches of confirmed matches and misses.

    The caches key a keyed hash of (kind, value), so not even this process's
    memory holds identifiers as such. A subject's matches are dropped when one
    of its identifiers is removed or it is erased; a miss when an identifier
    with its blind index is added (a check for a device never seen must not cost
    a query each time, but must see the device once it records consent). The
    notifications name the subjects and blind indexes (migration 0019). Both
    caches go when the notification connection drops.
    """

    def __init__(
        self,
        data_keys: DataKeys,
        index_key: IndexKey,
        notifications: Notifications,
        *,
        phone_region: str | None = None,
        max_entries: int = 100_000,
    ) -> None:
        self.data_keys = data_keys
        self._index_key = index_key
        self._phone_region = phone_region
        self._notifications = notifications
        self._cache = Memos[UUID](max_entries)
        self._unknown = Memos[str](max_entries)  # by `index_tag`: an added identifier names its blind index
        # Keyed once: copying the keyed state is half the cost of keying a new hash per lookup.
        self._memo_hash = hashlib.blake2b(key=os.urandom(32), digest_size=16)
        self._generation = 0
        self._unknown_generation = 0
        self._max_entries = max_entries
        self._observers: list[tuple[Callable[[], None], Callable[[], None]]] = []
        notifications.subscribe("consent_subject_keys", self._keys_removed, on_reset=self.clear)
        notifications.subscribe("consent_identifiers", self._identifiers_changed, on_reset=self.clear)

    def _keys_removed(self, payload: str) -> None:
        # The payload is the erased subject's id (migration 0003).
        self._forget_named(payload)

    def _identifiers_changed(self, payload: str) -> None:
        # 'I:' and the `index_tag`s of the identifiers added, 'D:' and the subjects whose identifiers
        # were removed (migration 0019); a bare 'I' or 'D', from an older instance: any identifier,
        # any subject.
        if payload.startswith("I:"):
            self._forget_tagged(payload[2:].split(","))
        elif payload == "I":
            self.forget_misses()
        elif payload.startswith("D:"):
            self._forget_named(payload[2:])
        else:
            self.clear()

    def _forget_named(self, ids: str) -> None:
        try:
            subject_ids = [UUID(text) for text in ids.split(",")]
        except ValueError:
            self.clear()  # not ours to read: forget everything rather than keep a stale match
            return
        self.forget_subjects(subject_ids)

    def observe(self, added: Callable[[], None], removed: Callable[[], None]) -> None:
        """Also call `added()` whenever identifiers may have been added (a miss may be outdated) and
        `removed()` when they or keys may have been removed or changed (a hit may be outdated): the
        read replica's identifier fences (`consent.service.replica`) follow this cache."""
        self._observers.append((added, removed))

    def forget_misses(self, added: Iterable[Identifier] | None = None) -> None:
        """Forget the remembered misses of these identifiers (just added), or every miss. Lookups in
        flight remember no miss (the generation moves): they may have read before the addition."""
        self._forget_tagged(None if added is None else [self._tag(identifier) for identifier in added])

    def forget_created(self, new: store.NewSubjects) -> None:
        """Forget the remembered misses of the identifiers of subjects this process created."""
        self._forget_tagged([index_tag(kind, index) for kind, index in zip(new.kinds, new.blind_indexes, strict=True)])

    def _forget_tagged(self, tags: list[str] | None) -> None:
        self._unknown_generation += 1
        if tags is None:
            self._unknown.clear()
        else:
            self._unknown.drop(tags)
        for added, _ in self._observers:
            added()

    def forget_subjects(self, subject_ids: Iterable[UUID]) -> None:
        """Drop the matches naming these subjects (an identifier of theirs was removed, or their key).

        Lookups in flight remember nothing (the generation moves): they may have read the rows
        before the removal."""
        self._generation += 1
        self._cache.drop(subject_ids)
        for _, removed in self._observers:
            removed()

    def forget_changed(self, subject_ids: Iterable[UUID], added: Iterable[Identifier] | None = None) -> None:
        """Identifiers of `subject_ids` were removed or replaced, and `added` (None: perhaps any)
        added: forget their matches and misses. (Every instance does at the commit, on the
        notifications; this process at once, so that its next lookup does not wait for them.)"""
        self.forget_subjects(subject_ids)
        self.forget_misses(added)

    def clear(self) -> None:
        self._generation += 1
        self._cache.clear()
        self.forget_misses()
        for _, removed in self._observers:
            removed()

    def identifier(self, kind: IdentifierKind, value: str, *, field: str | None = None) -> Identifier:
        """Normalise `value`; InvalidInput (naming `field`, never the value) if it is not valid."""
        try:
            return Identifier(kind, normalise_identifier(kind, value, default_region=self._phone_region))
        except InvalidIdentifier as exc:
            raise InvalidInput(str(exc), field=field or kind) from None

    def cached(self, identifier: Identifier) -> tuple[bool, UUID | None]:
        """(known, subject id) from the caches alone: (True, None) is a remembered miss."""
        memo = self._memo_key(identifier)
        found = self._cache.get(memo)
        return (found is not None or memo in self._unknown), found

    def generations(self) -> tuple[int, int, int]:
        """Capture before reading candidates; `confirm` caches only if nothing changed since."""
        return self._generation, self._unknown_generation, self.data_keys.generation

    def index_of(self, identifier: Identifier) -> bytes:
        index = identifier.index
        if index is None:
            index = identifier.index = self._index_key.digest(identifier.kind, identifier.value)
        return index

    async def confirm(
        self,
        identifier: Identifier,
        candidates: list[IdentifierCandidate],
        generations: tuple[int, int, int],
    ) -> UUID | None:
        """Pick the candidate that really holds `identifier`, or None; remember the answer."""
        memo = self._memo_key(identifier)
        for held in candidates:
            key = await self.data_keys.from_wrapped(
                held.subject_id, held.master_version, held.wrapped_key, generation=generations[2]
            )
            if self._matches(key, held.subject_id, identifier, held.ciphertext):
                self._remember(memo, held.subject_id, generations[0])
                return held.subject_id
        self._remember_miss(memo, identifier, generations[1])
        return None

    def _memo_key(self, identifier: Identifier) -> bytes:
        memo = identifier.memo
        if memo is None:
            hashed = self._memo_hash.copy()
            hashed.update(f"{identifier.kind}\x00{identifier.value}".encode())
            memo = identifier.memo = hashed.digest()
        return memo

    async def find(self, conn: Connection | Pool, identifier: Identifier, *, fresh: bool = False) -> UUID | None:
        """The subject this identifier belongs to, or None.

        `fresh` reads the database whatever this process remembers: a caller holding the
        identifier's lock must see a subject another process created meanwhile, which a
        remembered miss would hide.
        """
        memo = self._memo_key(identifier)
        found = self._cache.get(memo)
        if found is not None or (memo in self._unknown and not fresh):
            return found
        generation, unknown_generation = self._generation, self._unknown_generation
        index = self.index_of(identifier)
        for subject_id, ciphertext in await store.fetch_identifier_candidates(conn, identifier.kind, index):
            key = await self.data_keys.get(conn, subject_id)
            if key is not None and self._matches(key, subject_id, identifier, ciphertext):
                self._remember(memo, subject_id, generation)
                return subject_id
        self._remember_miss(memo, identifier, unknown_generation)
        return None

    async def find_or_create(self, conn: Connection, identifier: Identifier, now: datetime) -> tuple[UUID, bool]:
        """The identifier's subject, creating one (with its data key) if there is none yet.

        Runs in the caller's transaction; concurrent callers with the same
        identifier wait for each other, so it never gets two subjects. If that
        transaction rolls back, the caller must `clear()` the caches: they may
        remember what was never committed. A new subject (its key and identifier)
        is one statement; its id is new, so no erasure tombstone can hold it.
        """
        found = await self.find(conn, identifier)
        if found is not None:
            return found, False
        index = self.index_of(identifier)
        await store.lock_identifier(conn, identifier.kind, index)
        found = await self.find(conn, identifier, fresh=True)
        if found is not None:
            return found, False
        subject_id = uuid7()
        new = await self.new_subjects([(identifier, subject_id)], now)
        await store.insert_new_subjects(conn, new)
        self.forget_misses([identifier])
        return subject_id, True

    async def attach(
        self, conn: Connection, subject_id: UUID, key: DataKey, identifier: Identifier, now: datetime
    ) -> None:
        """Make `identifier` (the only one of its kind) identify `subject_id`.

        Raises Conflict if it already identifies another subject.
        """
        index = self._index_key.digest(identifier.kind, identifier.value)
        await store.lock_identifier(conn, identifier.kind, index)
        owner = await self.find(conn, identifier, fresh=True)
        if owner is not None and owner != subject_id:
            raise Conflict(f"this {identifier.kind} already identifies another subject", field=identifier.kind)
        await store.delete_identifiers_of_kind(conn, subject_id, identifier.kind)
        await self._store(conn, key, subject_id, identifier, index=index, now=now)
        self.forget_changed([subject_id], [identifier])

    async def move(
        self, conn: Connection, identifier: Identifier, *, to: UUID, key: DataKey, now: datetime
    ) -> UUID | None:
        """Make `identifier` identify `to` (besides its other identifiers of that kind); returns the
        subject it identified before, if another. Used to link a device to a known person."""
        index = self._index_key.digest(identifier.kind, identifier.value)
        await store.lock_identifier(conn, identifier.kind, index)
        owner = await self.find(conn, identifier, fresh=True)
        if owner == to:
            return None
        if owner is not None:
            await store.delete_identifier(conn, identifier.kind, index, owner)
        await self._store(conn, key, to, identifier, index=index, now=now)
        self.forget_changed([] if owner is None else [owner], [identifier])
        return owner

    async def new_subjects(self, wanted: Iterable[tuple[Identifier, UUID]], now: datetime) -> store.NewSubjects:
        """The rows of new subjects, one per (identifier, new subject id): a fresh data key
        wrapped under the current master key, the identifier's blind index and ciphertext."""
        new = store.NewSubjects(
            subject_ids=[],
            master_versions=[],
            wrapped_keys=[],
            kinds=[],
            blind_indexes=[],
            ciphertexts=[],
            created_at=now,
        )
        for identifier, subject_id in wanted:
            key, wrapped = await self.data_keys.new_wrapped(subject_id)
            new.subject_ids.append(subject_id)
            new.master_versions.append(wrapped.master_version)
            new.wrapped_keys.append(wrapped.blob)
            new.kinds.append(identifier.kind)
            new.blind_indexes.append(self.index_of(identifier))
            new.ciphertexts.append(self.ciphertext(key, subject_id, identifier))
        return new

    def ciphertext(self, key: DataKey, subject_id: UUID, identifier: Identifier) -> bytes:
        """The stored form of `identifier` for `subject_id` (what a lookup decrypts to confirm)."""
        return encrypt_field(key, identifier.value, subject_id=subject_id, table=TABLE, field=identifier.kind)

    async def detach(self, conn: Connection, subject_id: UUID, kind: IdentifierKind) -> None:
        await store.delete_identifiers_of_kind(conn, subject_id, kind)
        self.forget_subjects([subject_id])

    async def _store(
        self, conn: Connection, key: DataKey, subject_id: UUID, identifier: Identifier, *, index: bytes, now: datetime
    ) -> None:
        ciphertext = self.ciphertext(key, subject_id, identifier)
        await store.insert_identifier(
            conn, kind=identifier.kind, blind_index=index, subject_id=subject_id, ciphertext=ciphertext, created_at=now
        )

    @staticmethod
    def _matches(key: DataKey, subject_id: UUID, identifier: Identifier, ciphertext: bytes) -> bool:
        try:
            stored = decrypt_field_text(key, ciphertext, subject_id=subject_id, table=TABLE, field=identifier.kind)
        except DecryptionFailed:
            return False
        return stored.reveal() == identifier.value

    def _remember_miss(self, memo: bytes, identifier: Identifier, generation: int) -> None:
        if not self._notifications.connected or generation != self._unknown_generation or self._max_entries == 0:
            return
        self._unknown.put(memo, self._tag(identifier))

    def _tag(self, identifier: Identifier) -> str:
        return index_tag(identifier.kind, self.index_of(identifier))

    def _remember(self, memo: bytes, subject_id: UUID, generation: int) -> None:
        if not self._notifications.connected or generation != self._generation or self._max_entries == 0:
            return
        self._cache.put(memo, subject_id)
