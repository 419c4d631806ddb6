"""What a new request must say, checked against the caller and the active policy before any I/O."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

from consent.errors import Forbidden, InvalidInput
from consent.service.policy_versions import ActivePolicy
from consent.service.requests.states import UNVERIFIED
from consent.service.subjects.identifiers import Identifier
from consent.store.requests import RequestRow
from policies import Jurisdiction, RequestType

__all__ = [
    "Channel",
    "NewRequestIn",
    "Received",
    "Verification",
    "check_details",
    "received_at_of",
    "required_reason",
    "verification_of",
]


class Verification(enum.StrEnum):
    TRUSTED = "trusted"
    """A dsr or admin caller asserts it verified the person."""
    CODE = "code"
    """A one-time code delivered to the person by the policy's verification recipient."""
    NONE = "none"
    """Opt-out and objection: honoured without proof of identity."""


class Channel(enum.StrEnum):
    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    MAIL = "mail"
    IN_PERSON = "in_person"


class NewRequestIn(msgspec.Struct, kw_only=True, frozen=True):
    """A request as the API or the CLI received it (shapes checked, not yet against the policy)."""

    type: RequestType
    subject: Identifier | UUID
    jurisdiction: Jurisdiction
    verification: Verification | None
    channel: Channel = Channel.WEB
    purposes: list[str] = []
    note: str | None = None
    corrections: dict[str, str] | None = None
    received_at: datetime | None = None
    """When a letter or call reached us, if earlier than now: the deadlines run from receipt."""
    full_history: bool = False
    """Access or portability: everything since 2022-01-01 rather than the last 12 months (CCPA)."""
    actor: str
    trusted_caller: bool
    """A dsr or admin key: only such a caller may assert `trusted` verification."""


class Received(msgspec.Struct, kw_only=True, frozen=True):
    request: RequestRow
    created: bool
    """False: the subject already had an open request of this type, which is returned."""


def required_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("give a reason", field="reason")
    if len(text) > 2000:
        raise InvalidInput("at most 2000 characters", field="reason")
    return text


def verification_of(active: ActivePolicy, new: NewRequestIn) -> Verification:
    """How this request is verified; refused if the caller may not assert it or the policy cannot deliver it."""
    if new.type in UNVERIFIED:
        return Verification.NONE
    if new.verification is None:
        raise InvalidInput("say how the person is verified: trusted or code", field="verification")
    if new.verification is Verification.TRUSTED and not new.trusted_caller:
        raise Forbidden("only a dsr or admin key may assert that it verified the person", field="verification")
    if new.verification is Verification.CODE and active.policy.requests.verification_recipient is None:
        raise InvalidInput(
            "the policy names no verification recipient to deliver codes (requests.verification_recipient)",
            field="verification",
        )
    if new.verification is Verification.NONE:
        raise InvalidInput(f"a {new.type.value} request needs verification: trusted or code", field="verification")
    return new.verification


def check_details(active: ActivePolicy, new: NewRequestIn) -> None:
    """Purposes only for objection and restriction, each one a choice applies to; corrections only
    for rectification; the full history only for access and portability."""
    if new.purposes and new.type not in (RequestType.OBJECT, RequestType.RESTRICT):
        raise InvalidInput("only an objection or a restriction names purposes", field="purposes")
    for position, purpose_id in enumerate(new.purposes):
        purpose = active.policy.purposes.get(purpose_id)
        if purpose is None or purpose.exempt:
            raise InvalidInput(
                "not a purpose of the active policy that rests on a choice", field=f"purposes[{position}]"
            )
    if new.corrections is not None and new.type is not RequestType.RECTIFICATION:
        raise InvalidInput("only a rectification carries corrections", field="corrections")
    if new.full_history and new.type not in (RequestType.ACCESS, RequestType.PORTABILITY):
        raise InvalidInput("only an access or portability request asks for the full history", field="full_history")


def received_at_of(new: NewRequestIn, now: datetime) -> datetime:
    """When the request was received: now, or earlier as a dsr or admin caller states it."""
    if new.received_at is None:
        return now
    if not new.trusted_caller:
        raise Forbidden("only a dsr or admin key may state an earlier receipt", field="received_at")
    if new.received_at.tzinfo is None:
        raise InvalidInput("give a time zone (or Z)", field="received_at")
    if new.received_at > now:
        raise InvalidInput("a request cannot be received in the future", field="received_at")
    return new.received_at
