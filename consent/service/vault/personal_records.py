"""Personal records: a subject's personal fields, each encrypted under the subject's data key.

Writing a record also makes its email, phone and user id lookup identifiers, and copies its birth
date to the subject's facts, where the check reads it with the rest of the subject's state (the
decision engine's minor rules); erasure clears that copy.
Reading one is personal-data access, so it is audited (field names only).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import NotFound
from consent.service import audit
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.data_keys import SubjectErased
from consent.store import consent_state
from consent.store import vault as store
from consent.store.pool import Connection, Pool, transaction
from consent.store.vault import RecordFieldRow
from crypto import DataKey, IdentifierKind, Redacted, decrypt_field_text, encrypt_field

__all__ = [
    "PersonalRecord",
    "RecordRead",
    "decrypt_record",
    "erase_subject_keys",
    "put_personal_record",
    "read_record",
    "write_record",
]

TABLE = "personal_records"
_TEXT_FIELDS = ("name", "email", "phone", "address", "user_id")
_IDENTIFYING: tuple[IdentifierKind, ...] = ("email", "phone", "user_id")
_decode_attributes = msgspec.json.Decoder(dict[str, Any]).decode


class PersonalRecord(msgspec.Struct, kw_only=True, frozen=True):
    """Plaintext personal fields, as they cross the API boundary; never stored as such."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    user_id: str | None = None
    birth_date: date | None = None
    attributes: dict[str, Any] = {}

    def __repr__(self) -> str:
        return "PersonalRecord([REDACTED])"


class RecordRead(msgspec.Struct, kw_only=True, frozen=True):
    record: Redacted[PersonalRecord]
    updated_at: datetime | None


def _plain_fields(record: PersonalRecord, subjects: Subjects) -> dict[str, str]:
    """The fields to store, identifiers in their normalised form (so they read back as matched)."""
    fields: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value: str | None = getattr(record, name)
        if value is None:
            continue
        if name in _IDENTIFYING:
            value = subjects.identifier(name, value, field=name).value
        fields[name] = value
    if record.birth_date is not None:
        fields["birth_date"] = record.birth_date.isoformat()
    if record.attributes:
        fields["attributes"] = msgspec.json.encode(record.attributes).decode()
    return fields


async def write_record(
    db: Connection | Pool, subjects: Subjects, subject_id: UUID, record: PersonalRecord, *, actor: str
) -> bool:
    """Replace the subject's record (creating the subject if needed); True if the subject was created."""
    fields = _plain_fields(record, subjects)
    now = datetime.now(UTC)
    try:
        return await _write(db, subjects, subject_id, fields, record.birth_date, now=now, actor=actor)
    except BaseException:
        subjects.clear()  # lookups made inside the rolled-back transaction must not be remembered
        raise


async def _write(
    db: Connection | Pool,
    subjects: Subjects,
    subject_id: UUID,
    fields: dict[str, str],
    record_birth_date: date | None,
    *,
    now: datetime,
    actor: str,
) -> bool:
    async with transaction(db) as conn:
        key = await subjects.data_keys.get(conn, subject_id)
        created = key is None
        if key is None:
            key = await subjects.data_keys.get_or_create(conn, subject_id, now)
        for kind in _IDENTIFYING:
            if kind in fields:
                await subjects.attach(conn, subject_id, key, subjects.identifier(kind, fields[kind]), now)
            else:
                await subjects.detach(conn, subject_id, kind)
        ciphertexts = {
            name: encrypt_field(key, value, subject_id=subject_id, table=TABLE, field=name)
            for name, value in fields.items()
        }
        await store.replace_record_fields(conn, subject_id, ciphertexts, now)
        birth_date = fields.get("birth_date")
        await consent_state.set_birth_date(
            conn, subject_id, None if birth_date is None else date.fromisoformat(birth_date)
        )
        entry = audit.subject_action(
            actor, "personal_record.write", subject_id, fields=sorted(fields), subject_created=created
        )
        await audit.record(conn, entry, now=now)
    return created


def decrypt_record(key: DataKey, subject_id: UUID, rows: list[RecordFieldRow]) -> PersonalRecord:
    """The record from its stored fields (the caller audits the read)."""
    values: dict[str, Any] = {}
    for row in rows:
        plain = decrypt_field_text(key, row.ciphertext, subject_id=subject_id, table=TABLE, field=row.field)
        values[row.field] = plain.reveal()
    if "attributes" in values:
        values["attributes"] = _decode_attributes(values["attributes"])
    if "birth_date" in values:
        values["birth_date"] = date.fromisoformat(values["birth_date"])
    return PersonalRecord(**values)


async def read_record(db: Connection | Pool, subjects: Subjects, subject_id: UUID, *, actor: str) -> RecordRead:
    """Decrypt the subject's record and audit the read. NotFound if there is none."""
    async with transaction(db) as conn:
        key = await subjects.data_keys.get(conn, subject_id)
        if key is None:
            if await store.is_tombstoned(conn, subject_id):
                raise SubjectErased("this subject was erased", field="subject_id")
            raise NotFound("no subject has this id", field="subject_id")
        rows = await store.fetch_record_fields(conn, subject_id)
        record = decrypt_record(key, subject_id, rows)
        fields = sorted(row.field for row in rows)
        await audit.record(conn, audit.subject_action(actor, "personal_record.read", subject_id, fields=fields))
    updated = max((row.updated_at for row in rows), default=None)
    return RecordRead(record=Redacted(record), updated_at=updated)


async def put_personal_record(
    pool: Pool, subjects: Subjects, subject_id: UUID, record: PersonalRecord, *, actor: str
) -> tuple[bool, RecordRead]:
    """Replace the subject's record (creating the subject if needed), then read it back as stored
    (identifiers normalised): (whether the subject was created, the record)."""
    async with pool.acquire() as conn:
        created = await write_record(conn, subjects, subject_id, record, actor=actor)
        return created, await read_record(conn, subjects, subject_id, actor=actor)


async def erase_subject_keys(conn: Connection, subjects: Subjects, subject_id: UUID, *, actor: str) -> bool:
    """Crypto-shred a subject: delete its data key and blind indexes, leave a tombstone, in one transaction.

    Every instance drops its cached key at once (NOTIFY). What ciphertext
    remains, here and in backups, can no longer be decrypted by anyone.
    Returns False if the subject had no key (unknown or already erased).
    """
    async with conn.transaction():
        removed_identifiers = await store.delete_identifiers(conn, subject_id)
        existed = await subjects.data_keys.destroy(conn, subject_id)
        await consent_state.set_birth_date(conn, subject_id, None)
        entry = audit.subject_action(
            actor, "subject.keys_erased", subject_id, had_key=existed, identifiers_removed=removed_identifiers
        )
        await audit.record(conn, entry)
    subjects.forget_subjects([subject_id])
    return existed
