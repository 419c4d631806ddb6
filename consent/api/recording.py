"""`POST /v1/consents`: record what a person chose, with proof and a signed receipt.

A banner posts here on every first visit, so POSTs on the exact path take the
express lane (`consent.api.express`) like the check; the documented Litestar
handler serves any other way in. Both call `answer_record`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.types import Scope as AsgiScope

from consent.api.auth import api_key_of
from consent.api.check import NO_CONTROL_CHARACTERS, SubjectRef, exactly_one_of
from consent.api.express import Answer, ExpressRoute, decode_body, documented_post
from consent.api.headers import request_headers
from consent.api.limits import admit_new_subject, client_address, network_of, spend_new_subject
from consent.api.notices import LANGUAGE_TAG, jurisdiction_of
from consent.config import IpRetention
from consent.errors import Forbidden, InvalidInput
from consent.logs import request_id
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey, Scope
from consent.service.recording.prepare import Action, Choice, Idempotency, RecordingRequest, RecordOut, Source
from consent.service.recording.writer import Replay
from consent.service.subjects.identifiers import Identifier
from consent.service.subjects.references import SubjectKind, subject_named
from consent.text import has_control_characters
from policies import Jurisdiction

__all__ = ["RECORD", "ConsentIn", "proof_of", "recording_routes"]

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
RECORDERS = frozenset({Scope.COLLECT, Scope.DSR, Scope.ADMIN})
_RECORDABLE: tuple[SubjectKind, ...] = ("device_id", "user_id", "email")


class DecisionIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    status: Annotated[str, msgspec.Meta(max_length=16, extra_json_schema={"enum": ["granted", "denied", "withdrawn"]})]
    notice_version: Annotated[int, msgspec.Meta(ge=0)]


class ConsentIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    subject: Annotated[SubjectRef, msgspec.Meta(extra_json_schema=exactly_one_of(_RECORDABLE))]
    property: Annotated[
        str, msgspec.Meta(min_length=1, max_length=100, extra_json_schema={"pattern": NO_CONTROL_CHARACTERS})
    ]
    action: Action
    # Empty only to record a Global Privacy Control signal alone (`validate_choices` says when).
    decisions: Annotated[list[DecisionIn], msgspec.Meta(max_length=100)]
    jurisdiction: Jurisdiction | None = None
    language: (
        Annotated[str, msgspec.Meta(max_length=35, extra_json_schema={"pattern": LANGUAGE_TAG.pattern})] | None
    ) = None
    tcf: Annotated[str, msgspec.Meta(max_length=65536)] | None = None
    client_at: datetime | None = None
    by_guardian: bool = False
    """A holder of parental responsibility made or authorised these choices (GDPR Art. 8, COPPA)."""


def _subject(runtime: Runtime, key: ApiKey, ref: SubjectRef) -> Identifier:
    named = subject_named(runtime.subjects, ref, _RECORDABLE)
    assert isinstance(named, Identifier), "recording accepts no subject id"
    if key.publishable and named.kind != "device_id":
        # A page script must never write consent for somebody's account.
        raise Forbidden("a publishable key may only record consent for a device_id", field=f"subject.{named.kind}")
    return named


def proof_of(headers: Mapping[str, str], scope: AsgiScope, runtime: Runtime, key: ApiKey) -> dict[str, Any]:
    """How a choice was collected, without a raw IP address or a raw user agent: of the client's
    address (`consent.api.limits.client_address`) only its network (IPv4 /24, IPv6 /48) is kept."""
    proof: dict[str, Any] = {"api_key_id": str(key.id), "request_id": request_id.get()}
    if (origin := headers.get("origin")) is not None:
        proof["origin"] = origin[:200]
    if runtime.settings.ip_retention is not IpRetention.NONE:
        address = client_address(scope, runtime.settings)
        if address is not None and (prefix := network_of(address)) is not None:
            proof["ip_prefix"] = prefix
    if (agent := headers.get("user-agent")) is not None:
        # Keyed: a plain digest of a user agent is the user agent to anyone with a list of them.
        proof["user_agent_hmac"] = runtime.keys.index_key.user_agent_proof(hashlib.sha256(agent.encode()).hexdigest())
    return proof


def _idempotency(headers: Mapping[str, str], key: ApiKey, body: bytes) -> Idempotency | None:
    header = headers.get("idempotency-key")
    if header is None:
        return None
    if not _IDEMPOTENCY_KEY.match(header):
        raise InvalidInput("1 to 255 visible ASCII characters", field="idempotency-key")
    return Idempotency(api_key_id=key.id, key=header, request_hash=hashlib.sha256(body).digest())


_decode_consent = msgspec.json.Decoder(ConsentIn)


def _record_request(runtime: Runtime, scope: AsgiScope, key: ApiKey, body: bytes) -> RecordingRequest:
    data = decode_body(_decode_consent, body)
    headers = request_headers(scope)
    identifier = _subject(runtime, key, data.subject)
    if has_control_characters(data.property):
        raise InvalidInput("a property is a site or app id without control characters", field="property")
    if data.language is not None and not LANGUAGE_TAG.match(data.language):
        raise InvalidInput("a language is a BCP 47 tag such as en, ja or pt-BR", field="language")
    proof = proof_of(headers, scope, runtime, key)
    if data.tcf is not None:
        proof["tcf"] = runtime.decode_tcf(data.tcf)
    return RecordingRequest(
        identifier=identifier,
        property=data.property,
        jurisdiction=jurisdiction_of(headers, runtime, data.jurisdiction)[0],
        language=data.language,
        action=data.action,
        choices=[Choice(purpose=d.purpose, status=d.status, notice_version=d.notice_version) for d in data.decisions],
        gpc=headers.get("sec-gpc") == "1",  # exactly "1", as the GPC specification says
        client_at=data.client_at,
        by_guardian=data.by_guardian,
        proof=proof,
        actor=key.actor,
        idempotency=_idempotency(headers, key, body),
        source=Source.BANNER if key.publishable else Source.API,
        publishable=key.publishable,
    )


async def answer_record(runtime: Runtime, scope: AsgiScope, key: ApiKey, body: bytes) -> Answer:
    """Record a person's choices; both lanes call this (the raw body is hashed for idempotency).

    A publishable key's recordings are refused (429) while it is over its quota of new subjects.
    """
    admit_new_subject(runtime, key)
    result = await runtime.consents.record(
        runtime.policy.current,
        _record_request(runtime, scope, key, body),
        on_new_subject=lambda: spend_new_subject(runtime, key),
    )
    if isinstance(result, Replay):
        return Answer(result.body, result.status, replayed=True)
    return Answer(result, 201)


RECORD = ExpressRoute(RECORDERS, answer_record)


def recording_routes(max_body_bytes: int) -> list[HTTPRouteHandler]:
    """The documented handler of `POST /v1/consents` (the express lane serves its POSTs on the exact path)."""

    @documented_post("/v1/consents", RECORD, max_body_bytes, operation_id="recordConsent", tags=["consent"],
                     status=201, summary="Record a person's choices, with proof and a signed receipt")  # fmt: skip
    async def record_consent(request: Request[Any, Any, Any], data: JSONBody[ConsentIn]) -> Response[RecordOut]:
        # `data` documents and validates the body; the answer decodes the raw body it also hashes.
        answer = await answer_record(
            request.app.state.runtime, request.scope, api_key_of(request), await request.body()
        )
        return answer.response()

    return [record_consent]
