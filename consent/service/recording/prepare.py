"""Recording consent: validating a choice against the active policy and preparing what to store.

Everything here happens before the database is touched: the request is checked
against the policy (unknown or exempt purposes, duplicates, outdated notices, a
grant without an affirmative action), the events, the new state, the audit
entry, the outbox messages, the decisions and the signed receipt are all
prepared. `consent.service.recording.writer` then commits many prepared writes
together. Nothing is acknowledged before it is committed.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec

from consent.errors import Conflict, InvalidInput
from consent.ids import uuid7
from consent.service.audit import AuditEntry
from consent.service.checking.answers import decide_all
from consent.service.checking.state_cache import SubjectSnapshot
from consent.service.policy_versions import ActivePolicy
from consent.service.recording.receipts import ReceiptPurpose, sign_receipt
from consent.service.subjects.identifiers import Identifier
from consent.store.consent_events import ConsentEventRow
from consent.store.consent_state import ConsentStateRow, SubjectFactsRow
from consent.store.outbox import OutboxRow
from crypto import SigningKeyRing
from policies import ConsentState, ConsentStatus, Decision, Jurisdiction, Purpose

__all__ = [
    "AFFIRMATIVE",
    "Action",
    "Choice",
    "Idempotency",
    "PreparedWrite",
    "RecordOut",
    "RecordingRequest",
    "Source",
    "ValidChoice",
    "prepare_write",
    "validate_choices",
]


class Action(enum.StrEnum):
    ACCEPT_ALL = "accept_all"
    REJECT_ALL = "reject_all"
    SAVE_CHOICES = "save_choices"
    WITHDRAW = "withdraw"
    API = "api"


class Source(enum.StrEnum):
    BANNER = "banner"
    API = "api"
    IMPORT = "import"
    GPC = "gpc"
    REQUEST = "request"


# A grant needs the person to have done something that means yes (GDPR Art. 4(11), 7).
AFFIRMATIVE = frozenset({Action.ACCEPT_ALL, Action.SAVE_CHOICES, Action.API})


class Choice(msgspec.Struct, kw_only=True, frozen=True):
    """One decision as the caller sent it: names and numbers not yet checked against the policy."""

    purpose: str
    status: str
    notice_version: int


class ValidChoice(msgspec.Struct, kw_only=True, frozen=True):
    """A choice `validate_choices` accepted: the policy's purpose itself and the status it stores."""

    purpose: Purpose
    status: ConsentStatus
    notice_version: int


class Idempotency(msgspec.Struct, kw_only=True, frozen=True):
    """An Idempotency-Key, per API key, with the body's hash: a retry replays, another body is refused."""

    api_key_id: UUID
    key: str
    request_hash: bytes


class RecordingRequest(msgspec.Struct, kw_only=True, frozen=True):
    """One consent request, from the HTTP boundary (already shape-checked) to the writer, unchanged.

    The subject is named by exactly one of `identifier` and `subject_id`. Its `choices` are checked
    against the policy by `validate_choices`, which gives the valid choices alongside.
    """

    identifier: Identifier | None = None
    subject_id: UUID | None = None
    property: str
    jurisdiction: Jurisdiction
    language: str | None
    action: Action
    choices: list[Choice]
    gpc: bool
    client_at: datetime | None
    proof: dict[str, Any]
    actor: str
    by_guardian: bool = False
    """A guardian gave the choices: a grant then counts below the parental-consent age."""
    idempotency: Idempotency | None = None
    source: Source = Source.BANNER
    publishable: bool = False
    """Made with a publishable key, from a page anyone can read: it may not change the subject's stored
    jurisdiction nor write for a linked subject, and its answer names no subject (`prepare_write`)."""


class RecordOut(msgspec.Struct, kw_only=True, frozen=True):
    """The 201 answer (the wire contract of issue 5).

    To a publishable key, `subject_id` (in the answer and its receipt) is a random UUIDv4 new with each
    answer: the subject's own id is time-ordered, so it would tell a page whether a device id existed.
    """

    subject_id: UUID
    event_ids: list[UUID]
    policy_version: int
    decisions: dict[str, Decision]
    receipt: str
    receipt_id: UUID
    recorded_at: datetime


def _status(action: Action, raw: str, field: str) -> ConsentStatus:
    try:
        status = ConsentStatus(raw)
    except ValueError:
        raise InvalidInput("a decision's status is granted or denied", field=field) from None
    if action is Action.WITHDRAW:
        if status is ConsentStatus.GRANTED:
            raise InvalidInput("a withdrawal cannot grant", field=field)
        return ConsentStatus.WITHDRAWN
    if status is ConsentStatus.WITHDRAWN:
        raise InvalidInput("use the action withdraw to withdraw consent", field=field)
    if status is ConsentStatus.GRANTED and action not in AFFIRMATIVE:
        raise InvalidInput(f"a grant needs an affirmative action; {action.value} is not one", field=field)
    if status is ConsentStatus.DENIED and action is Action.ACCEPT_ALL:
        raise InvalidInput("accept_all cannot deny a purpose", field=field)
    return status


def validate_choices(active: ActivePolicy, recording: RecordingRequest) -> list[ValidChoice]:
    """The request's choices checked against the policy; the first problem is raised, naming its field.

    A request without choices is only a Global Privacy Control signal being recorded (a page
    seeing `Sec-GPC: 1` need not invent choices), so it is refused unless it carries the signal
    where the jurisdiction honours it. Notices below a purpose's `min_notice_version` are all
    collected into one 409 carrying the current versions, so a banner can re-render in one go.
    """
    action, choices = recording.action, recording.choices
    if not choices and not (recording.gpc and active.policy.jurisdictions[recording.jurisdiction].gpc_opt_out):
        raise InvalidInput(
            "at least one decision, unless the request carries Sec-GPC: 1 where the jurisdiction honours it",
            field="decisions",
        )
    purposes = active.policy.purposes
    seen: set[str] = set()
    valid: list[ValidChoice] = []
    outdated: dict[str, dict[str, int]] = {}
    for position, choice in enumerate(choices):
        field = f"decisions[{position}]"
        purpose = purposes.get(choice.purpose)
        if purpose is None:
            raise InvalidInput("not a purpose of the active policy", field=f"{field}.purpose")
        if choice.purpose in seen:
            raise InvalidInput("this purpose appears twice in one request", field=f"{field}.purpose")
        seen.add(choice.purpose)
        if purpose.exempt:
            raise InvalidInput(
                "no choice applies to this purpose: it does not rest on consent", field=f"{field}.purpose"
            )
        status = _status(action, choice.status, f"{field}.status")
        if choice.notice_version > purpose.notice_version:
            raise InvalidInput("newer than the purpose's current notice version", field=f"{field}.notice_version")
        if choice.notice_version < purpose.min_notice_version:
            outdated[purpose.id] = {
                "notice_version": purpose.notice_version,
                "min_notice_version": purpose.min_notice_version,
            }
        valid.append(ValidChoice(purpose=purpose, status=status, notice_version=choice.notice_version))
    if outdated:
        raise Conflict(
            "the notice shown is older than the policy accepts; show the current notice and ask again",
            field="decisions",
            extra={"policy_version": active.version, "current_notices": outdated},
        )
    return valid


class PreparedWrite(msgspec.Struct, kw_only=True):
    """One request's rows and answer, ready to be committed with others."""

    subject_id: UUID
    events: list[ConsentEventRow]
    states: list[ConsentStateRow]
    facts: SubjectFactsRow
    audit: AuditEntry
    outbox: list[OutboxRow]
    response: RecordOut
    publishable: bool = False  # `RecordingRequest.publishable`


def _gpc_choices(
    active: ActivePolicy, recording: RecordingRequest, choices: list[ValidChoice], snapshot: SubjectSnapshot
) -> list[ValidChoice]:
    """Sale-or-sharing purposes a GPC signal opts out of here, unless already so or chosen in this request."""
    if not recording.gpc or not active.policy.jurisdictions[recording.jurisdiction].gpc_opt_out:
        return []
    chosen = {choice.purpose.id for choice in choices}
    extra = []
    for purpose in active.policy.purposes.values():
        current = snapshot.consents.get(purpose.id)
        already_out = current is not None and current.status is not ConsentStatus.GRANTED
        if purpose.sale_or_sharing and purpose.id not in chosen and not already_out:
            extra.append(
                ValidChoice(purpose=purpose, status=ConsentStatus.DENIED, notice_version=purpose.notice_version)
            )
    return extra


def prepare_write(
    active: ActivePolicy,
    signing_keys: SigningKeyRing,
    *,
    recording: RecordingRequest,
    choices: list[ValidChoice],
    snapshot: SubjectSnapshot,
    subject_id: UUID,
    now: datetime,
) -> PreparedWrite:
    """Build the rows, the decisions and the signed receipt of one recorded request.

    `choices` are the request's choices as `validate_choices` returned them.
    """
    gpc_choices = _gpc_choices(active, recording, choices, snapshot)
    receipt_id = uuid7()
    named = uuid4() if recording.publishable else subject_id  # the subject as the answer names it
    events: list[ConsentEventRow] = []
    states: list[ConsentStateRow] = []
    consents = dict(snapshot.consents)
    for choice, source in [(c, recording.source) for c in choices] + [(c, Source.GPC) for c in gpc_choices]:
        event = ConsentEventRow(
            subject_id=subject_id,
            id=uuid7(),
            purpose=choice.purpose.id,
            status=choice.status,
            action=recording.action,
            source=source,
            jurisdiction=recording.jurisdiction,
            language=recording.language,
            property=recording.property,
            notice_version=choice.notice_version,
            policy_version=active.version,
            gpc=recording.gpc,
            client_at=recording.client_at,
            recorded_at=now,
            receipt_id=receipt_id,
            proof=recording.proof,
            by_guardian=recording.by_guardian,
        )
        events.append(event)
        states.append(_state_of(event))
        consents[choice.purpose.id] = ConsentState(
            status=choice.status,
            notice_version=choice.notice_version,
            recorded_at=now,
            by_guardian=recording.by_guardian,
        )
    gpc_at = now if recording.gpc and active.policy.jurisdictions[recording.jurisdiction].gpc_opt_out else None
    facts = snapshot.facts
    if gpc_at is not None and facts.gpc_opt_out_at is None:
        facts = msgspec.structs.replace(facts, gpc_opt_out_at=gpc_at)
    after = SubjectSnapshot(consents=consents, facts=facts, jurisdiction=recording.jurisdiction)
    written = [c.purpose.id for c in choices] + [c.purpose.id for c in gpc_choices]
    decisions = decide_all(active, after, written, recording.jurisdiction, gpc=recording.gpc, now=now)
    receipt = sign_receipt(
        signing_keys,
        active.policy,
        receipt_id=receipt_id,
        subject_id=named,
        policy_version=active.version,
        jurisdiction=recording.jurisdiction.value,
        collection_method=f"{recording.source.value}:{recording.action.value}",
        recorded_at=now,
        language=recording.language,
        property_id=recording.property,
        purposes=[
            ReceiptPurpose(
                purpose=c.purpose.id,
                legal_basis=c.purpose.legal_basis.value,
                notice_version=c.notice_version,
                status=c.status.value,
                expires_at=_expiry(c, now),
                data_categories=c.purpose.data_categories,
                third_party_disclosure=bool(c.purpose.third_party_countries) or c.purpose.sale_or_sharing,
            )
            for c in [*choices, *gpc_choices]
        ],
    )
    return PreparedWrite(
        subject_id=subject_id,
        events=events,
        states=states,
        facts=SubjectFactsRow(subject_id=subject_id, gpc_opt_out_at=gpc_at, jurisdiction=recording.jurisdiction),
        audit=AuditEntry(
            actor=recording.actor,
            action="consent.record",
            target={"subject_id": str(subject_id), "receipt_id": str(receipt_id)},
            detail={"purposes": written, "action": recording.action.value, "gpc": recording.gpc},
        ),
        outbox=_outbox(active, subject_id, events, now),
        publishable=recording.publishable,
        response=RecordOut(
            subject_id=named,
            event_ids=[event.id for event in events],
            policy_version=active.version,
            decisions=decisions,
            receipt=receipt,
            receipt_id=receipt_id,
            recorded_at=now,
        ),
    )


def _expiry(choice: ValidChoice, now: datetime) -> datetime | None:
    days = choice.purpose.consent_lifetime_days
    return now + timedelta(days=days) if choice.status is ConsentStatus.GRANTED and days else None


def _state_of(event: ConsentEventRow) -> ConsentStateRow:
    """The state row an event leaves: the subject's current choice for its purpose."""
    return ConsentStateRow(
        subject_id=event.subject_id,
        purpose=event.purpose,
        status=event.status,
        notice_version=event.notice_version,
        recorded_at=event.recorded_at,
        event_id=event.id,
        by_guardian=event.by_guardian,
    )


def _outbox(active: ActivePolicy, subject_id: UUID, events: list[ConsentEventRow], now: datetime) -> list[OutboxRow]:
    """One message per recipient that serves a purpose this write changed."""
    rows = []
    recorded_at = now.isoformat()
    for recipient in active.policy.recipients.values():
        changes = [
            {"event_id": str(e.id), "purpose": e.purpose, "status": e.status, "recorded_at": recorded_at}
            for e in events
            if e.purpose in recipient.purposes
        ]
        if changes:
            payload = {
                "type": "consent.changed",
                "subject_id": str(subject_id),
                "policy_version": active.version,
                "changes": changes,
            }
            rows.append(
                OutboxRow(
                    id=uuid7(), recipient=recipient.id, subject_id=subject_id, kind="consent.changed",
                    payload=payload, created_at=now,
                )
            )  # fmt: skip
    return rows
