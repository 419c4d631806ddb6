"""Executing a rectification: the corrected fields applied to the personal record, then ordered on.

The corrections were stored with the request, encrypted under the subject's data key. Each names
a record field (`name`, `email`, `phone`, `address`, `user_id`, `birth_date`) or one custom
attribute (`attributes.<name>`); an empty value removes the field. They are checked when the
request is received (`check_corrections`), so a correction the record cannot take is refused
then (422), not when the request runs. The record is rewritten as any write rewrites it (the
identifiers follow the email, phone and user id; the birth date is copied to the subject's
facts), then every recipient serving a purpose the subject consented to is sent a
`rectification.ordered` message naming the corrected fields, never their values: a recipient
reads the corrected record through the API.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

import msgspec

from consent.errors import InvalidInput
from consent.service.policy_versions import PolicyHolder
from consent.service.requests.execution import ACTOR, Executed, Executor, Order, notify_subject_changed
from consent.service.requests.orders import ORDER_SUFFIX, recipients_for
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.personal_records import PersonalRecord, read_record, write_record
from consent.store import requests as requests_store
from consent.store.pool import Connection
from consent.store.requests import RequestRow
from crypto import IdentifierKind, decrypt_field_text

__all__ = ["RECTIFICATION_ORDERED", "check_corrections", "corrected", "rectification_executor"]

RECTIFICATION_ORDERED = "rectification" + ORDER_SUFFIX
_TEXT_FIELDS = frozenset({"name", "email", "phone", "address", "user_id"})
_IDENTIFYING = frozenset({"email", "phone", "user_id"})
_ATTRIBUTE = "attributes."
_decode = msgspec.json.Decoder(dict[str, str]).decode


def check_corrections(subjects: Subjects, corrections: dict[str, str]) -> None:
    """InvalidInput naming `corrections.<field>` for a correction the record cannot take."""
    for name, value in corrections.items():
        field = f"corrections.{name}"
        if name.startswith(_ATTRIBUTE) and len(name) > len(_ATTRIBUTE):
            continue
        if name not in _TEXT_FIELDS and name != "birth_date":
            raise InvalidInput(
                "a correction names a record field (name, email, phone, address, user_id, birth_date)"
                " or attributes.<name>",
                field=field,
            )
        if not value:
            continue
        if name == "birth_date":
            _birth_date(value, field)
        elif name in _IDENTIFYING:
            subjects.identifier(cast(IdentifierKind, name), value, field=field)


def _birth_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("a date, YYYY-MM-DD", field=field) from None


def corrected(record: PersonalRecord, corrections: dict[str, str]) -> PersonalRecord:
    """`record` with the corrections applied (checked beforehand by `check_corrections`)."""
    changes: dict[str, Any] = {}
    attributes = dict(record.attributes)
    for name, value in corrections.items():
        if name.startswith(_ATTRIBUTE):
            key = name.removeprefix(_ATTRIBUTE)
            if value:
                attributes[key] = value
            else:
                attributes.pop(key, None)
        elif name == "birth_date":
            changes[name] = _birth_date(value, name) if value else None
        else:
            changes[name] = value or None
    return msgspec.structs.replace(record, **changes, attributes=attributes)


def rectification_executor(subjects: Subjects, policy: PolicyHolder) -> Executor:
    """The executor of rectification requests (see the module docstring)."""

    async def rectify(conn: Connection, request: RequestRow, now: datetime) -> Executed:
        subject_id = request.subject_id
        key = await subjects.data_keys.get(conn, subject_id)
        ciphertext = await requests_store.fetch_corrections(conn, request.id)
        if key is None or ciphertext is None:
            # Erased meanwhile (its corrections went with it), or nothing to correct.
            reason = "subject erased" if key is None else "no corrections"
            return Executed(outcome={"applied": False, "reason": reason}, audit={"applied": False, "reason": reason})
        plain = decrypt_field_text(key, ciphertext, subject_id=subject_id, table="requests", field="corrections")
        corrections = _decode(plain.reveal())
        record = (await read_record(conn, subjects, subject_id, actor=ACTOR)).record.reveal()
        await write_record(conn, subjects, subject_id, corrected(record, corrections), actor=ACTOR)
        await notify_subject_changed(conn, subject_id)
        fields = sorted(corrections)
        recipients = await recipients_for(conn, policy.current.policy, subject_id)
        return Executed(
            outcome={"applied": True, "fields": fields},
            audit={"applied": True, "fields": fields},
            order=Order(kind=RECTIFICATION_ORDERED, payload={"fields": fields}, recipients=recipients),
        )

    return rectify
