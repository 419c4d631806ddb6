"""`POST /v1/check` and `POST /v1/check/batch`: the consent check, on every page view of a client.

Kept lean on purpose: their POSTs take the express lane (`consent.api.express`),
one msgspec decode, caches first, and the engine's own `Decision` values encoded
as they are. The Litestar handlers document them and serve any other way in;
both call the same `_check` / `_check_batch`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.types import Scope as AsgiScope

from consent.api.auth import api_key_of
from consent.api.express import Answer, ExpressRoute, decode_body, documented_post
from consent.api.observability import count_identifier_checks
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey, Scope
from consent.service.checking.answers import CheckAnswer, CheckQuery, answer_checks
from consent.service.checking.batch import answer_batch
from consent.service.checking.checked_subjects import subject_checked
from consent.service.subjects.identifiers import Subjects
from consent.service.subjects.references import ANY_KIND, SubjectKind
from consent.text import CONTROL_CHARACTERS
from crypto import DEVICE_ID_PATTERN
from policies import Decision, Jurisdiction

__all__ = [
    "CHECK",
    "CHECK_BATCH",
    "DEVICE_ID",
    "EMAIL",
    "NO_CONTROL_CHARACTERS",
    "SubjectRef",
    "check_routes",
    "exactly_one_of",
]

MAX_BATCH = 1000

# The request Structs are `gc=False`: decoded JSON can hold no reference cycle, and a batch decodes
# thousands of them, which would otherwise wake the garbage collector several times per request.


# What `consent.service.subjects` accepts as an email: text on both sides of the last @, once trimmed.
# Stated in the schema only: the service checks it itself, so decoding pays nothing for it.
EMAIL = r"^[\s\S]*\S[\s\S]*@[^@]*[^@\s][^@]*$"
NO_CONTROL_CHARACTERS = f"^[^{CONTROL_CHARACTERS}]*$"
_EMAIL_SCHEMA = {"pattern": EMAIL, "description": "Trimmed and compared case-insensitively"}
_PHONE_SCHEMA = {"description": "A number valid for its country, best in E.164 (+14155550123)"}
# Stated in the schema; the service checks it itself (`crypto.normalise_identifier`), naming the field.
DEVICE_ID = Annotated[
    str,
    msgspec.Meta(
        max_length=128,
        extra_json_schema={
            "minLength": 22,
            "pattern": DEVICE_ID_PATTERN,
            "description": "128 random bits or more: 22 to 128 base64url characters, e.g. a UUIDv4",
        },
    ),
]


def exactly_one_of(kinds: Sequence[SubjectKind], among: Sequence[SubjectKind] = ANY_KIND) -> dict[str, Any]:
    """JSON schema for a subject reference that sets exactly one of `kinds` and none of the rest of `among`
    (`consent.service.subjects.references.subject_named`); null counts as not set."""
    return {
        "oneOf": [
            {
                "required": [kind],
                "properties": {
                    other: {"type": "string", **({"format": "uuid"} if kind == "subject_id" else {})}
                    if other == kind
                    else {"type": "null"}
                    for other in among
                },
            }
            for kind in kinds
        ]
    }


class SubjectRef(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """Exactly one way to name the subject (which kinds, the field using it says)."""

    device_id: DEVICE_ID | None = None
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=320, extra_json_schema=_EMAIL_SCHEMA)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=64, extra_json_schema=_PHONE_SCHEMA)] | None = None
    subject_id: UUID | None = None


class CheckIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    subject: Annotated[SubjectRef, msgspec.Meta(extra_json_schema=exactly_one_of(ANY_KIND))]
    purposes: Annotated[list[str], msgspec.Meta(max_length=100)] | None = None
    jurisdiction: Jurisdiction | None = None
    gpc: bool = False


class CheckBatchIn(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    checks: Annotated[list[CheckIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class CheckOut(msgspec.Struct, kw_only=True, frozen=True):
    # None for an unknown subject, and for one named by email or phone unless the key is dsr or admin.
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


CHECKERS = frozenset({Scope.CHECK, Scope.ADMIN})
_decode_check = msgspec.json.Decoder(CheckIn)
_decode_batch = msgspec.json.Decoder(CheckBatchIn)
# A batch may be this many times larger than the body limit of other routes.
BATCH_BODY_LIMIT = 16


def _identifier_kind(ref: SubjectRef) -> str | None:
    """The kind of identifier a (valid) reference names its subject by; None for a subject id."""
    if ref.subject_id is not None:
        return None
    if ref.device_id is not None:
        return "device_id"
    if ref.user_id is not None:
        return "user_id"
    return "email" if ref.email is not None else "phone"


def _count_identifier_checks(key: ApiKey, refs: Iterable[SubjectRef]) -> None:
    """Count answered checks per key and identifier kind (never the identifier), for `/metrics`."""
    for kind, count in Counter(map(_identifier_kind, refs)).items():
        if kind is not None:
            count_identifier_checks(key.id, kind, count)


async def _check(runtime: Runtime, key: ApiKey, data: CheckIn) -> CheckOut:
    answers = await answer_checks(
        runtime.cold_reads,
        runtime.subjects,
        runtime.states,
        runtime.policy.current,
        [to_query(runtime.subjects, data)],
        reveal_contacts=key.compliance,
    )
    _count_identifier_checks(key, (data.subject,))
    return _out(answers[0])


async def _check_batch(runtime: Runtime, key: ApiKey, data: CheckBatchIn) -> CheckBatchOut:
    results = await answer_batch(
        runtime.cold_reads,
        runtime.subjects,
        runtime.states,
        runtime.policy.current,
        data.checks,
        answer=CheckOut,
        reveal_contacts=key.compliance,
    )
    _count_identifier_checks(key, (check.subject for check in data.checks))
    return CheckBatchOut(results=results)


async def answer_check(runtime: Runtime, _scope: AsgiScope, key: ApiKey, body: bytes) -> Answer:
    """The express lane's `POST /v1/check`."""
    return Answer(await _check(runtime, key, decode_body(_decode_check, body)))


async def answer_check_batch(runtime: Runtime, _scope: AsgiScope, key: ApiKey, body: bytes) -> Answer:
    """The express lane's `POST /v1/check/batch`."""
    return Answer(await _check_batch(runtime, key, decode_body(_decode_batch, body)))


CHECK = ExpressRoute(CHECKERS, answer_check)
CHECK_BATCH = ExpressRoute(CHECKERS, answer_check_batch, BATCH_BODY_LIMIT)


def check_routes(max_body_bytes: int) -> list[HTTPRouteHandler]:
    """The documented handlers of both check routes (the express lane serves their POSTs on the exact path)."""
    tags = ["consent checks"]

    @documented_post("/v1/check", CHECK, max_body_bytes, operation_id="checkConsent", tags=tags, status=200,
                     summary="May this subject's data be used for these purposes?")  # fmt: skip
    async def check(request: Request[Any, Any, Any], data: JSONBody[CheckIn]) -> CheckOut:
        return await _check(request.app.state.runtime, api_key_of(request), data)

    @documented_post("/v1/check/batch", CHECK_BATCH, max_body_bytes, operation_id="checkConsentBatch", tags=tags,
                     status=200, summary="Up to 1,000 checks in one call, answered in order")  # fmt: skip
    async def check_batch(request: Request[Any, Any, Any], data: JSONBody[CheckBatchIn]) -> CheckBatchOut:
        return await _check_batch(request.app.state.runtime, api_key_of(request), data)

    return [check, check_batch]
