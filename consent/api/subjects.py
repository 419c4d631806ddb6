"""Personal records and identifier lookup: `/v1/subjects/...` for compliance keys (dsr, admin)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody

from consent.api.auth import api_key_of, require_key, scopes
from consent.api.check import DEVICE_ID, EMAIL, exactly_one_of
from consent.errors import InvalidInput, NotFound
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.subjects.identifiers import Identifier
from consent.service.subjects.lookup import lookup_subject
from consent.service.subjects.references import IDENTIFIER_KINDS, subject_named
from consent.service.vault.personal_records import PersonalRecord, put_personal_record, read_record

__all__ = ["SubjectsController"]

# Custom attributes are a record's own fields, not a document store: a few levels are plenty.
MAX_ATTRIBUTE_DEPTH = 8
_LIMITS = {"name": 500, "email": 320, "phone": 64, "address": 2000, "user_id": 256}


# The limits `_checked` and the identifier rules hold these fields to, stated in the schema only.
def _limited(field: str, **schema: object) -> msgspec.Meta:
    return msgspec.Meta(extra_json_schema={"maxLength": _LIMITS[field], **schema})


class PersonalRecordIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, _limited("name")] | None = None
    email: Annotated[str, _limited("email", pattern=EMAIL)] | None = None
    phone: Annotated[str, _limited("phone", description="A number valid for its country, best in E.164")] | None = None
    address: Annotated[str, _limited("address")] | None = None
    user_id: Annotated[str, _limited("user_id", minLength=1)] | None = None
    birth_date: date | None = None
    """Copied, unencrypted, to what the consent check reads: the jurisdiction's minor rules apply."""
    attributes: dict[str, Any] = {}


class PersonalRecordOut(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    user_id: str | None
    birth_date: date | None
    attributes: dict[str, Any]
    updated_at: datetime | None


class LookupIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    json_schema_extra: ClassVar[dict[str, Any]] = exactly_one_of(IDENTIFIER_KINDS, among=IDENTIFIER_KINDS)

    email: Annotated[str, msgspec.Meta(extra_json_schema={"pattern": EMAIL})] | None = None
    phone: str | None = None
    user_id: Annotated[str, msgspec.Meta(extra_json_schema={"minLength": 1})] | None = None
    device_id: DEVICE_ID | None = None


class LookupOut(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID


def _checked(data: PersonalRecordIn) -> PersonalRecord:
    for field, limit in _LIMITS.items():
        value = getattr(data, field)
        if value is not None and len(value) > limit:
            raise InvalidInput(f"at most {limit} characters", field=field)
    if _depth(data.attributes) > MAX_ATTRIBUTE_DEPTH:
        raise InvalidInput(f"attributes nest at most {MAX_ATTRIBUTE_DEPTH} levels deep", field="attributes")
    if len(msgspec.json.encode(data.attributes)) > 16_384:
        raise InvalidInput("attributes take at most 16 KiB as JSON", field="attributes")
    return PersonalRecord(**msgspec.structs.asdict(data))


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in decoded JSON `value` (a scalar: 0), without recursing."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class SubjectsController(Controller):
    path = "/v1/subjects"
    tags = ["personal data"]
    guards = [require_key]
    opt = scopes(Scope.DSR, Scope.ADMIN)

    @put(
        "/{subject_id:uuid}/record",
        operation_id="putPersonalRecord",
        summary="Store a subject's personal record, encrypted (creates the subject if needed)",
    )
    async def put_record(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], data: JSONBody[PersonalRecordIn]
    ) -> Response[PersonalRecordOut]:
        runtime: Runtime = request.app.state.runtime
        created, stored = await put_personal_record(
            runtime.pool, runtime.subjects, subject_id, _checked(data), actor=api_key_of(request).actor
        )
        return Response(
            _out(subject_id, stored.record.reveal(), stored.updated_at), status_code=201 if created else 200
        )

    @get(
        "/{subject_id:uuid}/record",
        operation_id="getPersonalRecord",
        summary="Read a subject's personal record, decrypted (audited)",
    )
    async def get_record(self, request: Request[Any, Any, Any], subject_id: FromPath[UUID]) -> PersonalRecordOut:
        runtime: Runtime = request.app.state.runtime
        stored = await read_record(runtime.pool, runtime.subjects, subject_id, actor=api_key_of(request).actor)
        return _out(subject_id, stored.record.reveal(), stored.updated_at)

    @post(
        "/lookup", operation_id="lookupSubject", summary="Find a subject by one identifier (audited)", status_code=200
    )
    async def lookup(self, request: Request[Any, Any, Any], data: JSONBody[LookupIn]) -> LookupOut:
        runtime: Runtime = request.app.state.runtime
        identifier = subject_named(runtime.subjects, data, IDENTIFIER_KINDS, field="body", prefix="")
        assert isinstance(identifier, Identifier), "a lookup accepts no subject id"
        subject_id = await lookup_subject(runtime.pool, runtime.subjects, identifier, actor=api_key_of(request).actor)
        if subject_id is None:
            raise NotFound(f"no subject has this {identifier.kind}", field=identifier.kind)
        return LookupOut(subject_id=subject_id)


def _out(subject_id: UUID, record: PersonalRecord, updated_at: datetime | None) -> PersonalRecordOut:
    return PersonalRecordOut(
        subject_id=subject_id,
        name=record.name,
        email=record.email,
        phone=record.phone,
        address=record.address,
        user_id=record.user_id,
        birth_date=record.birth_date,
        attributes=record.attributes,
        updated_at=updated_at,
    )
