"""Data subject requests: `/v1/requests` for compliance keys, and for a website's request form.

A `collect` key (from an allowed origin) may file a request and submit its verification code,
but never assert that it verified the person itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import Scope as AsgiScope

from consent.api.auth import api_key_of, require_key, scopes
from consent.api.check import DEVICE_ID
from consent.api.express import Answer, ExpressRoute, decode_body
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey, Scope
from consent.service.requests.intake import Channel, NewRequestIn, Verification
from consent.service.requests.queue import (
    MAX_PAGE,
    DeliveryRow,
    ListFilter,
    RequestRow,
    deliveries_of,
    list_requests,
    request_detail,
)
from consent.service.requests.states import UNVERIFIED, RequestState
from consent.service.subjects.references import ANY_KIND, IDENTIFIER_KINDS, subject_named
from policies import Jurisdiction, RequestType

__all__ = ["FILE_REQUEST", "RequestsController"]

_TRUSTED_SCOPES = frozenset({Scope.DSR, Scope.ADMIN})
FILERS = frozenset({Scope.COLLECT, *_TRUSTED_SCOPES})
Reason = Annotated[str, msgspec.Meta(max_length=2000)]
CorrectedField = Annotated[
    str, msgspec.Meta(pattern=r"^(name|email|phone|address|user_id|birth_date|attributes\.[A-Za-z0-9_.-]{1,64})$")
]


class RequestSubjectIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Exactly one identifier of the person (a subject id only from a dsr or admin key)."""

    email: str | None = None
    phone: str | None = None
    user_id: str | None = None
    device_id: DEVICE_ID | None = None
    subject_id: UUID | None = None


class RequestIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    # Only opt-out and objection apply unverified; every other type says how the person was verified.
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"type": {"enum": sorted(t.value for t in UNVERIFIED)}}},
        "else": {
            "required": ["verification"],
            "properties": {"verification": {"enum": [Verification.TRUSTED.value, Verification.CODE.value]}},
        },
    }

    type: RequestType
    subject: RequestSubjectIn
    jurisdiction: Jurisdiction
    verification: Verification | None = None
    """Required but for `opt_out` and `object`, which need none."""
    channel: Channel = Channel.WEB
    purposes: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=100)] = []
    """For `object`: the purposes objected to (none: direct marketing); for `restrict`: those restricted (none: all)."""
    received_at: datetime | None = None
    """For a letter or call received earlier (dsr and admin keys only): deadlines run from receipt."""
    note: Reason | None = None
    """Encrypted under the subject's data key."""
    corrections: Annotated[dict[CorrectedField, Reason], msgspec.Meta(max_length=50)] | None = None
    """For `rectification`: the corrected record fields (an empty value removes one); encrypted
    under the subject's data key, applied when the request runs."""
    full_history: bool = False
    """For `access` and `portability`: everything since 2022-01-01 instead of the last 12 months (CCPA;
    other jurisdictions always get everything)."""


class CodeIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=32)]


class ReasonIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]
    """Required: kept for the request record (a rejection's is the §7101 denial reason)."""


class RequestOut(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    type: RequestType
    state: RequestState
    jurisdiction: Jurisdiction
    channel: Channel
    verification: Verification
    approval: str
    purposes: list[str]
    subject_id: UUID
    received_at: datetime
    acknowledge_by: date | None
    due_at: date
    extended: bool
    extension_reason: str | None
    verified_at: datetime | None
    approved_at: datetime | None
    completed_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None
    full_history: bool
    executed_at: datetime | None
    """When its work (an erasure, a rectification) was done; it completes once every recipient acknowledged."""
    outcome: dict[str, Any] | None
    """What the work did, kept and why (see docs/requests.md); no personal values."""


class DeliveryOut(msgspec.Struct, kw_only=True, frozen=True):
    recipient: str
    state: str
    """`pending`, `sent` (awaiting the recipient's acknowledgement), `acknowledged` or `failed`."""
    created_at: datetime
    acknowledged_at: datetime | None
    event_id: UUID | None
    """The order's `Consent-Event-Id`, as the recipient received it."""


class RequestDetailOut(RequestOut, kw_only=True, frozen=True):
    deliveries: list[DeliveryOut]
    export_url: str | None
    """Where the person downloads the access or portability export, once, until it expires: a path on
    this service (`/v1/exports/{token}`); null until the export is built and after it is used or expired."""


class RequestPage(msgspec.Struct, kw_only=True, frozen=True):
    requests: list[RequestOut]
    next_after: UUID | None
    """Pass as `after` for the next page; None on the last."""


def _out(row: RequestRow) -> RequestOut:
    fields = {name: getattr(row, name) for name in RequestOut.__struct_fields__}
    return msgspec.convert(fields, RequestOut, from_attributes=True)


def _delivery(row: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        recipient=row.recipient,
        state=row.state,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        event_id=row.event_id,
    )


async def _file(runtime: Runtime, key: ApiKey, data: RequestIn) -> Answer:
    trusted = key.scope in _TRUSTED_SCOPES
    subject = subject_named(runtime.subjects, data.subject, ANY_KIND if trusted else IDENTIFIER_KINDS)
    received = await runtime.requests.receive(
        NewRequestIn(
            type=data.type,
            subject=subject,
            jurisdiction=data.jurisdiction,
            verification=data.verification,
            channel=data.channel,
            purposes=data.purposes,
            note=data.note,
            corrections=data.corrections,
            received_at=data.received_at,
            full_history=data.full_history,
            actor=key.actor,
            trusted_caller=trusted,
        )
    )
    return Answer(_out(received.request), status=201 if received.created else 200)


_REQUEST_DECODER = msgspec.json.Decoder(RequestIn)


async def _answer_file(runtime: Runtime, _scope: AsgiScope, key: ApiKey, body: bytes) -> Answer:
    return await _file(runtime, key, decode_body(_REQUEST_DECODER, body))


# `POST /v1/requests` in the express lane (`consent.api.express`): a request form or a compliance
# tool filing in bulk waits on it; `RequestsController.create` documents it and serves other paths.
FILE_REQUEST = ExpressRoute(FILERS, _answer_file)


class RequestsController(Controller):
    path = "/v1/requests"
    tags = ["requests"]
    guards = [require_key]
    opt = scopes(Scope.DSR, Scope.ADMIN)

    @post(
        operation_id="createRequest",
        summary="File a data subject request (201), or get the subject's open one of that type (200)",
        opt=scopes(*FILERS),
    )
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[RequestIn]) -> Response[RequestOut]:
        return (await _file(request.app.state.runtime, api_key_of(request), data)).response()

    @get(operation_id="listRequests", summary="The request queue, filtered, in the order of receipt")
    async def queue(
        self,
        request: Request[Any, Any, Any],
        *,
        request_state: Annotated[RequestState | None, QueryParameter(name="state")] = None,
        request_type: Annotated[RequestType | None, QueryParameter(name="type")] = None,
        jurisdiction: FromQuery[Jurisdiction | None] = None,
        due_before: FromQuery[date | None] = None,
        overdue: FromQuery[bool] = False,
        after: FromQuery[UUID | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> RequestPage:
        runtime: Runtime = request.app.state.runtime
        where = ListFilter(
            state=request_state,
            type=request_type,
            jurisdiction=jurisdiction,
            due_before=due_before,
            overdue_on=datetime.now(UTC).date() if overdue else None,
            after=after,
            limit=limit,
        )
        # From the replica when it has replayed every write committed before this call (a request
        # created a moment ago through any instance is listed), else from the primary.
        rows = await runtime.reads.run(lambda db: list_requests(db, where), fresh=True)
        return RequestPage(requests=[_out(row) for row in rows], next_after=rows[-1].id if len(rows) == limit else None)

    @get("/{request_id:uuid}", operation_id="getRequest", summary="One request, with its deliveries")
    async def show(self, request: Request[Any, Any, Any], request_id: FromPath[UUID]) -> RequestDetailOut:
        runtime: Runtime = request.app.state.runtime
        detail = await request_detail(runtime.pool, request_id)
        return RequestDetailOut(
            **msgspec.structs.asdict(_out(detail.request)),
            deliveries=[_delivery(row) for row in detail.deliveries],
            export_url=await runtime.exports.export_url(request_id),
        )

    @post(
        "/{request_id:uuid}/verify",
        operation_id="verifyRequest",
        summary="Submit the one-time code the person received (attempt-limited, expiring)",
        status_code=200,
        opt=scopes(Scope.COLLECT, Scope.DSR, Scope.ADMIN),
    )
    async def verify(
        self, request: Request[Any, Any, Any], request_id: FromPath[UUID], data: JSONBody[CodeIn]
    ) -> RequestOut:
        runtime: Runtime = request.app.state.runtime
        return _out(await runtime.requests.verify(request_id, data.code, actor=api_key_of(request).actor))

    @post(
        "/{request_id:uuid}/approve",
        operation_id="approveRequest",
        summary="Approve a verified request whose type the policy marks for manual approval",
        status_code=200,
    )
    async def approve(self, request: Request[Any, Any, Any], request_id: FromPath[UUID]) -> RequestOut:
        runtime: Runtime = request.app.state.runtime
        return _out(await runtime.requests.approve(request_id, actor=api_key_of(request).actor))

    @post(
        "/{request_id:uuid}/reject",
        operation_id="rejectRequest",
        summary="Reject an open request; a reason is required",
        status_code=200,
    )
    async def reject(
        self, request: Request[Any, Any, Any], request_id: FromPath[UUID], data: JSONBody[ReasonIn]
    ) -> RequestOut:
        runtime: Runtime = request.app.state.runtime
        return _out(await runtime.requests.reject(request_id, data.reason, actor=api_key_of(request).actor))

    @post(
        "/{request_id:uuid}/extend",
        operation_id="extendRequest",
        summary="Extend the deadline once, within the first period, by the jurisdiction's extension",
        status_code=200,
    )
    async def extend(
        self, request: Request[Any, Any, Any], request_id: FromPath[UUID], data: JSONBody[ReasonIn]
    ) -> RequestOut:
        runtime: Runtime = request.app.state.runtime
        return _out(await runtime.requests.extend(request_id, data.reason, actor=api_key_of(request).actor))

    @get(
        "/{request_id:uuid}/deliveries",
        operation_id="listRequestDeliveries",
        summary="The request's deliveries, one per recipient",
    )
    async def deliveries(self, request: Request[Any, Any, Any], request_id: FromPath[UUID]) -> list[DeliveryOut]:
        runtime: Runtime = request.app.state.runtime
        return [_delivery(row) for row in await deliveries_of(runtime.pool, request_id)]

    @post(
        "/{request_id:uuid}/deliveries/{recipient:str}/ack",
        operation_id="acknowledgeRequestDelivery",
        summary="A recipient confirms it carried out the request's order",
        status_code=200,
    )
    async def acknowledge(
        self, request: Request[Any, Any, Any], request_id: FromPath[UUID], recipient: FromPath[str]
    ) -> DeliveryOut:
        runtime: Runtime = request.app.state.runtime
        delivery = await runtime.requests.acknowledge_delivery(request_id, recipient, actor=api_key_of(request).actor)
        return _delivery(delivery)
