"""Receiving a request: what it is first written as, and the one-statement receipt of a trusted one.

A request whose verification the caller asserts, and which goes no further than verified or in
progress as it arrives (the common case: an access, erasure or rectification request from a
compliance tool, a manual approval, an opt-out), is received in one statement
(`consent.store.request_receipt`): its subject if new, the request, its audit entries and its job,
one round trip and one commit, shared with the process's other requests received at the same time
(`receipt_batches`). Everything else (a code to send, an objection's effect on the
subject's facts, a new subject with a note to encrypt, an identifier created concurrently) takes
the transactional path in `handling.py`, which locks the identifier.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from consent.errors import NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.policy_versions import ActivePolicy
from consent.service.requests.execution import RequestExecution
from consent.service.requests.intake import NewRequestIn, Verification, received_at_of
from consent.service.requests.orders import request_entry
from consent.service.requests.receipt_batches import ReceiptBatches
from consent.service.requests.states import FACTS, RequestState, states_at_receipt
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.store import requests as store
from consent.store.pool import Connection, Pool
from consent.store.request_receipt import HELD, Receipt
from consent.store.requests import NewRequest, RequestRow
from consent.store.vault import NewSubjects
from crypto import encrypt_field
from policies import DueDates, RequestType, due_dates

__all__ = ["Planned", "ciphertexts", "existing_subject", "new_request", "plan_receipt", "receive_at_once"]

TABLE = "requests"
_AT_ONCE = frozenset({RequestState.VERIFIED, RequestState.IN_PROGRESS})


class Planned(msgspec.Struct, kw_only=True, frozen=True):
    """What a new request is written as, decided before any I/O."""

    request_type: RequestType
    passed: list[RequestState]  # the states it passes through as it is received, the last its own
    verification: Verification
    approval: str
    due: DueDates
    received_at: datetime
    now: datetime

    @property
    def state(self) -> RequestState:
        return self.passed[-1]

    @property
    def at_once(self) -> bool:
        """True when one statement can receive it (`receive_at_once`)."""
        return (
            self.verification is not Verification.CODE
            and self.state in _AT_ONCE
            and self.request_type not in FACTS  # its effect on the facts is written on the locking path
        )


def plan_receipt(active: ActivePolicy, new: NewRequestIn, verification: Verification, now: datetime) -> Planned:
    received_at = received_at_of(new, now)
    approval = active.policy.requests.rule_for(new.type).approval
    return Planned(
        request_type=new.type,
        passed=states_at_receipt(new.type, approval, verified=verification is not Verification.CODE),
        verification=verification,
        approval=approval,
        due=due_dates(new.type, active.policy.jurisdictions[new.jurisdiction], received_at),
        received_at=received_at,
        now=now,
    )


def new_request(
    new: NewRequestIn, planned: Planned, subject_id: UUID, encrypted: dict[str, bytes | None]
) -> NewRequest:
    return NewRequest(
        id=uuid7(),
        subject_id=subject_id,
        type=new.type,
        state=planned.state,
        jurisdiction=new.jurisdiction,
        channel=new.channel,
        verification=planned.verification,
        approval=planned.approval,
        purposes=sorted(set(new.purposes)),
        received_at=planned.received_at,
        acknowledge_by=planned.due.acknowledge_by,
        due_at=planned.due.respond_by,
        note_ciphertext=encrypted["note_ciphertext"],
        corrections_ciphertext=encrypted["corrections_ciphertext"],
        created_by=new.actor,
        full_history=new.full_history,
        verified_at=planned.now if RequestState.VERIFIED in planned.passed else None,
        completed_at=planned.now if planned.state is RequestState.COMPLETED else None,
    )


async def existing_subject(subjects: Subjects, conn: Connection | Pool, subject_id: UUID) -> UUID:
    """`subject_id`, named by the caller: NotFound unless the subject exists (has a data key)."""
    if await subjects.data_keys.get(conn, subject_id) is None:
        raise NotFound("no subject has this id", field="subject.subject_id")
    return subject_id


async def ciphertexts(
    subjects: Subjects, conn: Connection | Pool, subject_id: UUID, new: NewRequestIn
) -> dict[str, bytes | None]:
    """The note and the corrected fields, encrypted under the subject's data key."""
    plain = {
        "note_ciphertext": new.note,
        "corrections_ciphertext": None if new.corrections is None else msgspec.json.encode(new.corrections),
    }
    if not any(value is not None for value in plain.values()):
        return dict.fromkeys(plain)
    key = await subjects.data_keys.get(conn, subject_id)
    if key is None:
        raise NotFound("this subject was erased", field="subject")
    return {
        column: None
        if value is None
        else encrypt_field(key, value, subject_id=subject_id, table=TABLE, field=column.removesuffix("_ciphertext"))
        for column, value in plain.items()
    }


async def receive_at_once(
    pool: Pool,
    subjects: Subjects,
    execution: RequestExecution,
    new: NewRequestIn,
    *,
    receipts: ReceiptBatches,
    planned: Planned,
) -> tuple[RequestRow, bool] | None:
    """Receive a request `planned.at_once` in one statement: (its row, True), or (the subject's open
    request of this type, False); None when the transactional path must receive it instead.

    A subject this process does not remember is not looked up first: the statement creates it,
    unless its identifier turns out to be another subject's (`HELD`); that one is looked up then,
    and the request sent again with it."""
    subject = await _subject(pool, subjects, new, planned.now)
    if subject is None:
        return None
    subject_id, creating = subject
    receipt = await _receipt(pool, subjects, execution, new, planned, subject_id=subject_id, creating=creating)
    outcome = await receipts.receive(receipt)
    if creating.subject_ids:
        subjects.forget_created(creating)  # created, or someone else's: either way no longer a miss
    if outcome is HELD:
        assert isinstance(new.subject, Identifier), "only a new subject is held"
        found = await subjects.find(pool, new.subject, fresh=True)
        if found is None:
            return None  # held under another value of a truncated blind index: the locking path
        subject_id = found
        nothing = await subjects.new_subjects([], planned.now)
        receipt = await _receipt(pool, subjects, execution, new, planned, subject_id=found, creating=nothing)
        outcome = await receipts.receive(receipt)
    if isinstance(outcome, RequestRow):
        if receipt.job is not None:
            execution.wake()
        return outcome, True
    existing = await store.fetch_open(pool, subject_id, new.type)
    return None if existing is None else (existing, False)  # closed meanwhile: the locking path decides


async def _subject(pool: Pool, subjects: Subjects, new: NewRequestIn, now: datetime) -> tuple[UUID, NewSubjects] | None:
    """The request's subject: (its id, nothing to create), or (a new id, the subject to create);
    None when the locking path must create it."""
    nothing = await subjects.new_subjects([], now)
    if not isinstance(new.subject, Identifier):
        return await existing_subject(subjects, pool, new.subject), nothing
    _, remembered = subjects.cached(new.subject)
    if remembered is not None:
        return remembered, nothing
    if new.note is not None or new.corrections is not None:
        # Encrypted under the subject's data key: a new subject is created on the locking path.
        found = await subjects.find(pool, new.subject)
        return None if found is None else (found, nothing)
    subject_id = uuid7()
    return subject_id, await subjects.new_subjects([(new.subject, subject_id)], now)


async def _receipt(
    pool: Pool,
    subjects: Subjects,
    execution: RequestExecution,
    new: NewRequestIn,
    planned: Planned,
    *,
    subject_id: UUID,
    creating: NewSubjects,
) -> Receipt:
    request = new_request(new, planned, subject_id, await ciphertexts(subjects, pool, subject_id, new))
    entries = [
        request_entry(new.actor, "request.received", request, verification=planned.verification, channel=new.channel),
        request_entry(new.actor, "request.verified", request, verification=planned.verification),
    ]
    job = None
    if planned.state is RequestState.IN_PROGRESS:
        entries.append(request_entry(new.actor, "request.in_progress", request))
        job = execution.job_for(request, planned.now)
    return Receipt(request=request, audit=audit.entry_rows(entries, planned.now), job=job, subjects=creating)
