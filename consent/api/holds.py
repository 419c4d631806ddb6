"""Legal holds on a subject: `/v1/subjects/{subject_id}/holds` for compliance keys (dsr, admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from consent.api.auth import api_key_of, require_key, scopes
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.requests.holds import HoldRow, list_holds, place_hold, release_hold

__all__ = ["HoldsController"]

Category = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class HoldIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]
    """Why the data must be kept (a case or order number): kept for the record, so no personal values."""
    data_categories: Annotated[list[Category], msgspec.Meta(max_length=100)] = []
    """The data categories held (each declared in the policy's retention); none: every category."""


class HoldOut(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    subject_id: UUID
    reason: str
    data_categories: list[str]
    created_at: datetime
    created_by: str


def _out(hold: HoldRow) -> HoldOut:
    return HoldOut(
        id=hold.id,
        subject_id=hold.subject_id,
        reason=hold.reason,
        data_categories=hold.data_categories,
        created_at=hold.created_at,
        created_by=hold.created_by,
    )


class HoldsController(Controller):
    path = "/v1/subjects/{subject_id:uuid}/holds"
    tags = ["personal data"]
    guards = [require_key]
    opt = scopes(Scope.DSR, Scope.ADMIN)

    @post(operation_id="placeSubjectHold", summary="Place a legal hold: erasure keeps the data it covers")
    async def place(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], data: JSONBody[HoldIn]
    ) -> Response[HoldOut]:
        runtime: Runtime = request.app.state.runtime
        hold = await place_hold(
            runtime.pool,
            runtime.policy,
            subject_id,
            reason=data.reason,
            data_categories=data.data_categories,
            actor=api_key_of(request).actor,
        )
        return Response(_out(hold), status_code=201)

    @get(operation_id="listSubjectHolds", summary="The subject's legal holds, oldest first")
    async def holds(self, request: Request[Any, Any, Any], subject_id: FromPath[UUID]) -> list[HoldOut]:
        runtime: Runtime = request.app.state.runtime
        return [_out(hold) for hold in await list_holds(runtime.pool, subject_id)]

    @delete("/{hold_id:uuid}", operation_id="releaseSubjectHold", summary="Release a legal hold", status_code=204)
    async def release(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], hold_id: FromPath[UUID]
    ) -> None:
        runtime: Runtime = request.app.state.runtime
        await release_hold(runtime.pool, subject_id, hold_id, actor=api_key_of(request).actor)
