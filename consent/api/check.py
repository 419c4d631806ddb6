"""`POST /v1/check` and `POST /v1/check/batch`: the consent check, on every page view of a client.

Kept lean on purpose: no dependency injection, no middleware beyond the
observability layer, one msgspec decode, caches first, and the engine's own
`Decision` values encoded as they are.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, post
from litestar.params import JSONBody

from consent.api.auth import require_key, scopes
from consent.errors import InvalidInput
from consent.runtime import Runtime
from consent.service.api_keys import Scope
from consent.service.checking import CheckAnswer, CheckQuery, answer_checks
from consent.service.subjects import Subjects
from policies import Decision, Jurisdiction

__all__ = ["CheckController", "SubjectRef"]

MAX_BATCH = 1000


class SubjectRef(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Exactly one way to name the subject."""

    device_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    user_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    subject_id: UUID | None = None


class CheckIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    subject: SubjectRef
    purposes: Annotated[list[str], msgspec.Meta(max_length=100)] | None = None
    jurisdiction: Jurisdiction | None = None
    gpc: bool = False


class CheckBatchIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    checks: Annotated[list[CheckIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class CheckOut(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID | None
    policy_version: int
    jurisdiction: Jurisdiction
    decisions: dict[str, Decision]


class CheckBatchOut(msgspec.Struct, kw_only=True, frozen=True):
    results: list[CheckOut]


_KINDS = ("device_id", "user_id", "email", "phone")


def to_query(subjects: Subjects, check: CheckIn, prefix: str = "") -> CheckQuery:
    ref = check.subject
    named = [kind for kind in (*_KINDS, "subject_id") if getattr(ref, kind) is not None]
    if len(named) != 1:
        raise InvalidInput(
            "name the subject by exactly one of device_id, user_id, email, phone, subject_id",
            field=f"{prefix}subject",
        )
    kind = named[0]
    if kind == "subject_id":
        return CheckQuery(
            subject_id=ref.subject_id, purposes=check.purposes, jurisdiction=check.jurisdiction, gpc=check.gpc
        )
    identifier = subjects.identifier(kind, getattr(ref, kind), field=f"{prefix}subject.{kind}")  # type: ignore[arg-type]
    return CheckQuery(identifier=identifier, purposes=check.purposes, jurisdiction=check.jurisdiction, gpc=check.gpc)


def _out(answer: CheckAnswer) -> CheckOut:
    return CheckOut(
        subject_id=answer.subject_id,
        policy_version=answer.policy_version,
        jurisdiction=answer.jurisdiction,
        decisions=answer.decisions,
    )


class CheckController(Controller):
    path = "/v1/check"
    tags = ["consent checks"]
    guards = [require_key]
    opt = scopes(Scope.CHECK, Scope.ADMIN)

    @post(operation_id="checkConsent", summary="May this subject's data be used for these purposes?", status_code=200)
    async def check(self, request: Request[Any, Any, Any], data: JSONBody[CheckIn]) -> CheckOut:
        runtime: Runtime = request.app.state.runtime
        query = to_query(runtime.subjects, data)
        answers = await answer_checks(runtime.pool, runtime.subjects, runtime.states, runtime.policy.current, [query])
        return _out(answers[0])

    @post(
        "/batch",
        operation_id="checkConsentBatch",
        summary="Up to 1,000 checks in one call, answered in order",
        status_code=200,
    )
    async def check_batch(self, request: Request[Any, Any, Any], data: JSONBody[CheckBatchIn]) -> CheckBatchOut:
        runtime: Runtime = request.app.state.runtime
        queries = [to_query(runtime.subjects, check, f"checks[{i}].") for i, check in enumerate(data.checks)]
        answers = await answer_checks(
            runtime.pool, runtime.subjects, runtime.states, runtime.policy.current, queries, batch=True
        )
        return CheckBatchOut(results=[_out(answer) for answer in answers])
