"""Recording and reading consent: `POST /v1/consents`, withdrawal, a subject's state and history."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from consent.api.auth import api_key_of, require_key, scopes
from consent.api.check import SubjectRef
from consent.api.cors import collect_cors
from consent.api.notices import jurisdiction_of
from consent.config import IpRetention
from consent.errors import Forbidden, InvalidInput
from consent.logs import request_id
from consent.runtime import Runtime
from consent.service.api_keys import ApiKey, Scope
from consent.service.consent_writer import Replay
from consent.service.consents import RecordRequest
from consent.service.linking import LinkResult, link_device, verify_identity_token
from consent.service.recording import Action, Choice, Idempotency, RecordOut, Source
from policies import NO_SIGNALS, Decision, Jurisdiction, SubjectState, decide

__all__ = ["ConsentsController", "LinkController", "SubjectConsentsController"]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class DecisionIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    status: Annotated[str, msgspec.Meta(max_length=16)]
    notice_version: Annotated[int, msgspec.Meta(ge=0)]


class ConsentIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    subject: SubjectRef
    property: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    action: Action
    decisions: Annotated[list[DecisionIn], msgspec.Meta(min_length=1, max_length=100)]
    jurisdiction: Jurisdiction | None = None
    language: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    tcf: Annotated[str, msgspec.Meta(max_length=65536)] | None = None
    client_at: datetime | None = None


def _subject(runtime: Runtime, key: ApiKey, ref: SubjectRef) -> tuple[str, str]:
    named = [(kind, value) for kind in ("device_id", "user_id", "email") if (value := getattr(ref, kind)) is not None]
    if len(named) != 1 or ref.phone is not None or ref.subject_id is not None:
        raise InvalidInput("name the subject by exactly one of device_id, user_id, email", field="subject")
    kind, value = named[0]
    if key.publishable and kind != "device_id":
        # A page script must never write consent for somebody's account.
        raise Forbidden("a publishable key may only record consent for a device_id", field=f"subject.{kind}")
    return kind, value


def _ip_prefix(host: str | None, retention: IpRetention) -> str | None:
    if host is None or retention is IpRetention.NONE:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def _proof(request: Request[Any, Any, Any], runtime: Runtime, key: ApiKey) -> dict[str, Any]:
    """How the choice was collected, without a raw IP address or a raw user agent."""
    proof: dict[str, Any] = {"api_key_id": str(key.id), "request_id": request_id.get()}
    if (origin := request.headers.get("origin")) is not None:
        proof["origin"] = origin[:200]
    prefix = _ip_prefix(request.client.host if request.client else None, runtime.settings.ip_retention)
    if prefix is not None:
        proof["ip_prefix"] = prefix
    if (agent := request.headers.get("user-agent")) is not None:
        proof["user_agent_sha256"] = hashlib.sha256(agent.encode()).hexdigest()
    return proof


def _idempotency(request: Request[Any, Any, Any], key: ApiKey, body: bytes) -> Idempotency | None:
    header = request.headers.get("idempotency-key")
    if header is None:
        return None
    if not _IDEMPOTENCY_KEY.match(header):
        raise InvalidInput("1 to 255 visible ASCII characters", field="idempotency-key")
    return Idempotency(api_key_id=key.id, key=header, request_hash=hashlib.sha256(body).digest())


def _answer(result: RecordOut | Replay) -> Response[Any]:
    if isinstance(result, Replay):
        return Response(result.body, status_code=result.status, headers={"Idempotent-Replayed": "true"})
    return Response(result, status_code=201)


class ConsentsController(Controller):
    path = "/v1/consents"
    tags = ["consent"]
    guards = [require_key]
    middleware = [collect_cors]
    opt = scopes(Scope.COLLECT, Scope.DSR, Scope.ADMIN)

    @post(operation_id="recordConsent", summary="Record a person's choices, with proof and a signed receipt")
    async def record(self, request: Request[Any, Any, Any], data: JSONBody[ConsentIn]) -> Response[Any]:
        runtime: Runtime = request.app.state.runtime
        key = api_key_of(request)
        kind, value = _subject(runtime, key, data.subject)
        if data.language is not None and not _LANGUAGE.match(data.language):
            raise InvalidInput("a language is a BCP 47 tag such as en, ja or pt-BR", field="language")
        jurisdiction, _ = jurisdiction_of(request, runtime, data.jurisdiction)
        proof = _proof(request, runtime, key)
        if data.tcf is not None:
            proof["tcf"] = runtime.decode_tcf(data.tcf)
        record = RecordRequest(
            identifier=runtime.subjects.identifier(kind, value, field=f"subject.{kind}"),  # type: ignore[arg-type]
            property=data.property,
            jurisdiction=jurisdiction,
            language=data.language,
            action=data.action,
            choices=[
                Choice(purpose=d.purpose, status=d.status, notice_version=d.notice_version) for d in data.decisions
            ],
            gpc=request.headers.get("sec-gpc") == "1",
            client_at=data.client_at,
            proof=proof,
            actor=key.actor,
            idempotency=_idempotency(request, key, await request.body()),
            source=Source.BANNER if key.publishable else Source.API,
        )
        return _answer(await runtime.consents.record(runtime.policy.current, record))


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


class SubjectConsentsController(Controller):
    path = "/v1/subjects/{subject_id:uuid}/consents"
    tags = ["consent"]
    guards = [require_key]

    @get(
        operation_id="getSubjectConsents",
        summary="A subject's current consent per purpose, and with ?history=true every event",
        opt=scopes(Scope.CHECK, Scope.DSR, Scope.ADMIN),
    )
    async def get_consents(
        self, request: Request[Any, Any, Any], subject_id: FromPath[UUID], history: FromQuery[bool] = False
    ) -> SubjectConsentsOut:
        runtime: Runtime = request.app.state.runtime
        active = runtime.policy.current
        snapshot = await runtime.consents.snapshot(subject_id)
        jurisdiction = snapshot.jurisdiction or Jurisdiction.DEFAULT
        rules = active.policy.jurisdictions[jurisdiction]
        now = datetime.now(UTC)
        states = []
        for purpose_id, state in sorted(snapshot.consents.items()):
            purpose = active.policy.purposes.get(purpose_id)
            if purpose is None:
                continue
            decision = decide(purpose, SubjectState(consent=state, facts=snapshot.facts), rules, NO_SIGNALS, now)
            states.append(
                ConsentStateOut(
                    purpose=purpose_id,
                    status=state.status.value,
                    notice_version=state.notice_version,
                    recorded_at=state.recorded_at,
                    decision=decision,
                )
            )
        events = await runtime.consents.history(subject_id, actor=api_key_of(request).actor) if history else None
        return SubjectConsentsOut(
            subject_id=subject_id,
            policy_version=active.version,
            jurisdiction=jurisdiction,
            gpc_opt_out_at=snapshot.facts.gpc_opt_out_at,
            consents=states,
            history=events,
        )

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
            runtime.policy.current, subject_id, purpose, actor=key.actor, proof=_proof(request, runtime, key)
        )


class LinkIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    token: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class LinkController(Controller):
    path = "/v1/subjects/link"
    tags = ["consent"]
    guards = [require_key]
    middleware = [collect_cors]
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
