"""`POST /v1/check` and `POST /v1/check/batch`: the consent check, on every page view of a client.

Kept lean on purpose (see `consent.api.fast`): plain ASGI, no dependency
injection, no middleware beyond the observability layer, one msgspec decode,
caches first, and the engine's own `Decision` values encoded as they are.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Litestar, asgi
from litestar.types import Receive, Send
from litestar.types import Scope as AsgiScope

from consent.api.fast import answer_json, authenticate, decode_body, document, read_body, runtime_of
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.checking.answers import CheckAnswer, CheckQuery, answer_checks
from consent.service.checking.batch import answer_batch
from consent.service.checking.checked_subjects import subject_checked
from consent.service.subjects.identifiers import Subjects
from policies import Decision, Jurisdiction

__all__ = ["SubjectRef", "check", "check_batch", "check_consent", "check_consent_batch", "document_checks"]

MAX_BATCH = 1000

# The request Structs are `gc=False`: decoded JSON can hold no reference cycle, and a batch decodes
# thousands of them, which would otherwise wake the garbage collector several times per request.


class SubjectRef(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """Exactly one way to name the subject."""

    device_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    user_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    subject_id: UUID | None = None


class CheckIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    subject: SubjectRef
    purposes: Annotated[list[str], msgspec.Meta(max_length=100)] | None = None
    jurisdiction: Jurisdiction | None = None
    gpc: bool = False


class CheckBatchIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    checks: Annotated[list[CheckIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class CheckOut(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID | None
    policy_version: int
    jurisdiction: Jurisdiction
    decisions: dict[str, Decision]


class CheckBatchOut(msgspec.Struct, kw_only=True, frozen=True):
    results: list[CheckOut]


def to_query(subjects: Subjects, check: CheckIn) -> CheckQuery:
    named = subject_checked(subjects, check.subject)
    return CheckQuery(
        identifier=named.identifier,
        subject_id=named.subject_id,
        purposes=check.purposes,
        jurisdiction=check.jurisdiction,
        gpc=check.gpc,
    )


def _out(answer: CheckAnswer) -> CheckOut:
    return CheckOut(
        subject_id=answer.subject_id,
        policy_version=answer.policy_version,
        jurisdiction=answer.jurisdiction,
        decisions=answer.decisions,
    )


_ACCEPTED = frozenset({Scope.CHECK, Scope.ADMIN})
_decode_check = msgspec.json.Decoder(CheckIn)
_decode_batch = msgspec.json.Decoder(CheckBatchIn)
_encode = msgspec.json.Encoder().encode


async def check_consent(runtime: Runtime, scope: AsgiScope, receive: Receive, send: Send) -> None:
    """POST: may this subject's data be used for these purposes? (scope check or admin)"""
    body = await read_body(scope, receive, runtime.settings.max_body_bytes)
    await authenticate(runtime, scope, _ACCEPTED)
    query = to_query(runtime.subjects, decode_body(_decode_check, body))
    answers = await answer_checks(runtime.cold_reads, runtime.subjects, runtime.states, runtime.policy.current, [query])
    await answer_json(send, _encode(_out(answers[0])))


async def check_consent_batch(runtime: Runtime, scope: AsgiScope, receive: Receive, send: Send) -> None:
    """POST: up to 1,000 checks in one call, answered in order (scope check or admin)."""
    body = await read_body(scope, receive, runtime.settings.max_body_bytes * 16)
    await authenticate(runtime, scope, _ACCEPTED)
    checks = decode_body(_decode_batch, body).checks
    results = await answer_batch(
        runtime.cold_reads, runtime.subjects, runtime.states, runtime.policy.current, checks, answer=CheckOut
    )
    await answer_json(send, _encode(CheckBatchOut(results=results)))


# Served by the express lane (`consent.api.express`); registered here too for other methods and paths.
@asgi("/v1/check", copy_scope=False)
async def check(scope: AsgiScope, receive: Receive, send: Send) -> None:
    """POST: may this subject's data be used for these purposes? (scope check or admin)"""
    await check_consent(runtime_of(scope), scope, receive, send)


@asgi("/v1/check/batch", copy_scope=False)
async def check_batch(scope: AsgiScope, receive: Receive, send: Send) -> None:
    """POST: up to 1,000 checks in one call, answered in order (scope check or admin)."""
    await check_consent_batch(runtime_of(scope), scope, receive, send)


def document_checks(app: Litestar) -> None:
    """Put both check routes in the OpenAPI schema (plain-ASGI routes are not described by Litestar)."""
    scopes_ = ["check", "admin"]
    document(
        app,
        path="/v1/check",
        operation_id="checkConsent",
        tags=["consent checks"],
        security_scopes=scopes_,
        summary="May this subject's data be used for these purposes?",
        request=CheckIn,
        response=CheckOut,
    )
    document(app, path="/v1/check/batch", operation_id="checkConsentBatch", tags=["consent checks"],
             security_scopes=scopes_, summary="Up to 1,000 checks in one call, answered in order",
             request=CheckBatchIn, response=CheckBatchOut)  # fmt: skip
