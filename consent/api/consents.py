"""A subject's consent: its state and history, withdrawal, and linking a device to a known user.

Recording itself (`POST /v1/consents`) is in `consent.api.recording`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from consent.api.auth import api_key_of, require_key, scopes
from consent.api.check import DEVICE_ID
from consent.api.headers import request_headers
from consent.api.recording import proof_of
from consent.errors import Forbidden
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.recording.consents import SubjectConsents
from consent.service.recording.prepare import RecordOut
from consent.service.subjects.linking import LinkResult, link_device, verify_identity_token
from policies import Decision, Jurisdiction

__all__ = ["LinkController", "SubjectConsentsController"]


class ConsentStateOut(msgspec.Struct, kw_only=True, frozen=True):
    purpose: str
    status: str
    notice_version: int
    recorded_at: datetime
    decision: Decision


class SubjectConsentsOut(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID
    policy_version: int
    jurisdiction: Jurisdiction
    gpc_opt_out_at: datetime | None
    consents: list[ConsentStateOut]
    history: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, found: SubjectConsents) -> SubjectConsentsOut:
        return cls(
            subject_id=found.subject_id,
            policy_version=found.policy_version,
            jurisdiction=found.jurisdiction,
            gpc_opt_out_at=found.gpc_opt_out_at,
            consents=[ConsentStateOut(**msgspec.structs.asdict(consent)) for consent in found.consents],
            history=found.history,
        )


class SubjectConsentsController(Controller):
    path = "/v1/subjects/{subject_id:uuid}/consents"
    tags = ["consent"]
    guards = [require_key]

    @get(
        operation_id="getSubjectConsents",
        summary="A subject's current consent per purpose, and with ?history=true (dsr, admin) every event",
        opt=scopes(Scope.CHECK, Scope.DSR, Scope.ADMIN),
    )
    async def get_consents(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], history: FromQuery[bool] = False
    ) -> SubjectConsentsOut:
        runtime: Runtime = request.app.state.runtime
        key = api_key_of(request)
        if history and not key.compliance:
            # Every event with its proof is compliance's business, not a downstream service's.
            raise Forbidden("only a dsr or admin key may read a subject's history", field="history")
        found = await runtime.consents.subject_consents(
            runtime.policy.current, subject_id, history=history, actor=key.actor
        )
        return SubjectConsentsOut.of(found)

    @delete(
        "/{purpose:str}",
        operation_id="withdrawConsent",
        summary="Withdraw consent to one purpose (as easy as giving it)",
        status_code=200,
        opt=scopes(Scope.DSR, Scope.ADMIN),
    )
    async def withdraw(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], purpose: FromPath[str]
    ) -> RecordOut:
        runtime: Runtime = request.app.state.runtime
        key = api_key_of(request)
        return await runtime.consents.withdraw(
            runtime.policy.current,
            subject_id,
            purpose,
            actor=key.actor,
            proof=proof_of(request_headers(request.scope), request.scope, runtime, key),
        )


class LinkIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    device_id: DEVICE_ID
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    token: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class LinkController(Controller):
    path = "/v1/subjects/link"
    tags = ["consent"]
    guards = [require_key]
    opt = scopes(Scope.COLLECT, Scope.DSR, Scope.ADMIN)

    @post(
        operation_id="linkDevice", summary="Link a device to a known user; the device's choices follow", status_code=200
    )
    async def link(self, request: Request[Any, Any, Any], data: JSONBody[LinkIn]) -> LinkResult:
        runtime: Runtime = request.app.state.runtime
        key = api_key_of(request)
        if key.publishable:
            # A page may link only what the site's backend vouched for.
            if data.token is None:
                raise Forbidden("a publishable key needs an identity token signed by the site's backend", field="token")
            vouched = verify_identity_token(runtime.settings.link_token_secret, data.token, datetime.now(UTC))
            if (vouched.user_id, vouched.device_id) != (data.user_id, data.device_id):
                raise Forbidden("the identity token is for another user or device", field="token")
        return await link_device(
            runtime.pool,
            runtime.subjects,
            runtime.states,
            runtime.policy.current,
            device=runtime.subjects.identifier("device_id", data.device_id),
            user=runtime.subjects.identifier("user_id", data.user_id),
            actor=key.actor,
        )
