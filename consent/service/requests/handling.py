"""Data subject requests: receiving them and moving them through their states.

Each use case is one transaction holding the request's row lock, the transition and its audit
entry (with the actor). The subject is found through the blind-index lookup, or created as a
recording creates one, so a request row holds a subject id and never an identifier; a note or
corrected fields are encrypted under the subject's data key. An opt-out is recorded through the
recording service, which commits on its own: the request is marked completed right after, and
`retry` finishes one left verified by a failure in between. A request moved to in progress gets
its execution job in the same transaction (`execution.py`); `retry` puts a parked one back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from consent.errors import Conflict, InvalidInput, NotFound
from consent.service import audit
from consent.service.checking.state_cache import StateCache
from consent.service.policy_versions import ActivePolicy, PolicyHolder
from consent.service.recording.consents import ConsentService
from consent.service.requests import effects, orders
from consent.service.requests.execution import RequestExecution
from consent.service.requests.intake import (
    NewRequestIn,
    Received,
    Verification,
    check_details,
    required_reason,
    verification_of,
)
from consent.service.requests.receipt_batches import ReceiptBatches
from consent.service.requests.receiving import (
    ciphertexts,
    existing_subject,
    new_request,
    plan_receipt,
    receive_at_once,
)
from consent.service.requests.rectification import check_corrections
from consent.service.requests.states import (
    FACTS,
    IMMEDIATE,
    RequestAction,
    RequestState,
    check_allowed,
    next_state,
)
from consent.service.requests.verification import MAX_ATTEMPTS, code_matches, issue_code
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.store import request_deliveries
from consent.store import requests as store
from consent.store.pool import Connection, Pool, transaction
from consent.store.request_deliveries import DeliveryRow
from consent.store.requests import RequestRow
from policies import Approval, BusinessCalendar, Jurisdiction, RequestType, add_period

__all__ = ["RequestHandling"]

TABLE = "requests"
SYSTEM = "system"
_entry = orders.request_entry
# Where going in progress leaves a request (`_set_off`), and the action that audits it.
_ACTION = {RequestState.IN_PROGRESS: "request.in_progress", RequestState.COMPLETED: "request.completed"}


class RequestHandling:
    """The request use cases of one process; holds nothing but references."""

    def __init__(
        self,
        pool: Pool,
        *,
        subjects: Subjects,
        policy: PolicyHolder,
        consents: ConsentService,
        states: StateCache,
        execution: RequestExecution,
        receipts: ReceiptBatches,
    ) -> None:
        self._pool = pool
        self._receipts = receipts
        self._execution = execution
        self._subjects = subjects
        self._policy = policy
        self._consents = consents
        self._states = states

    async def receive(self, new: NewRequestIn) -> Received:
        """Record a request, or return the subject's open one of the same type.

        A request that needs no verification, or whose verification the caller asserts, is
        verified at once and moves on (`states.next_state`); one verified by code waits for it.
        """
        active = self._policy.current
        verification = verification_of(active, new)
        check_details(active, new)
        if new.corrections is not None:
            check_corrections(self._subjects, new.corrections)
        now = datetime.now(UTC)
        planned = plan_receipt(active, new, verification, now)
        if planned.at_once:
            done = await receive_at_once(
                self._pool,
                self._subjects,
                self._execution,
                new,
                receipts=self._receipts,
                planned=planned,
            )
            if done is not None:
                received, created = done
                return Received(
                    request=await self._finish(active, received, new.actor) if created else received, created=created
                )
        state = planned.state
        try:
            async with transaction(self._pool) as conn:
                subject_id = await self._subject(conn, new.subject, now)
                encrypted = await ciphertexts(self._subjects, conn, subject_id, new)
                row = await store.insert_request(conn, new_request(new, planned, subject_id, encrypted))
                if row is None:  # the subject has an open request of this type (perhaps committed just now)
                    existing = await store.fetch_open(conn, subject_id, new.type)
                    assert existing is not None, "the conflicting request is open"
                    return Received(request=existing, created=False)
                entries = [_entry(new.actor, "request.received", row, verification=verification, channel=new.channel)]
                if verification is Verification.CODE:
                    recipient = active.policy.requests.verification_recipient
                    assert recipient is not None, "checked by verification_of"
                    await issue_code(conn, row.id, subject_id, recipient=recipient, now=now)
                else:
                    entries.append(_entry(new.actor, "request.verified", row, verification=verification))
                if state is RequestState.IN_PROGRESS:
                    row, detail = await self._set_off(conn, active, row, now)
                    entries.append(_entry(new.actor, _ACTION[RequestState(row.state)], row, **detail))
                await audit.record_many(conn, entries, now=now)
        except BaseException:
            self._subjects.clear()  # lookups made inside a rolled-back transaction must not be remembered
            raise
        return Received(request=await self._finish(active, row, new.actor), created=True)

    async def verify(self, request_id: UUID, code: str, *, actor: str) -> RequestRow:
        """Check the person's code: verified (and on), or 422 with the attempts left, or 409 once
        the code has expired or been used up (the request is then rejected)."""
        active = self._policy.current
        now = datetime.now(UTC)
        failure: str | None = None
        attempts_left = 0
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, request_id)
            check_allowed(RequestState(row.state), RequestAction.VERIFY)
            held = await store.lock_verification(conn, request_id)
            if held is None:
                raise Conflict("this request is not verified by code", field="code")
            if now >= held.expires_at:
                failure = "expired"
            elif code_matches(held.salt, held.code_hash, request_id, code):
                await store.mark_verification_used(conn, request_id, now)
                row = await self._verified(conn, active, row, actor, now)
            else:
                attempts = await store.count_attempt(conn, request_id)
                attempts_left = max(MAX_ATTEMPTS - attempts, 0)
                failure = "wrong_code" if attempts_left else "attempts_exhausted"
            if failure is not None:
                await audit.record(conn, _entry(actor, "request.verification_failed", row, failure=failure), now=now)
                if failure != "wrong_code":
                    reason = "identity not verified: " + failure.replace("_", " ")
                    row = await self._reject(conn, row, reason, actor=SYSTEM, now=now)
        if failure == "wrong_code":
            raise InvalidInput("wrong code", field="code", extra={"attempts_left": attempts_left})
        if failure is not None:
            raise Conflict(f"the code is {failure.replace('_', ' ')}; the request was rejected", field="code")
        return await self._finish(active, row, actor)

    async def approve(self, request_id: UUID, *, actor: str) -> RequestRow:
        """A person's approval of a verified request whose type the policy marks `manual`."""
        active = self._policy.current
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, request_id)
            check_allowed(RequestState(row.state), RequestAction.APPROVE)
            if row.approval != Approval.MANUAL or row.approved_at is not None:
                raise Conflict("this request does not wait for approval", field="state")
            row = await store.update_request(conn, row.id, now, approved_at=now, approved_by=actor)
            await audit.record(conn, _entry(actor, "request.approved", row), now=now)
            row = await self._advance(conn, active, row, actor, now)
        return await self._finish(active, row, actor)

    async def reject(self, request_id: UUID, reason: str | None, *, actor: str) -> RequestRow:
        """Refuse an open request; the reason is required and is kept for the §7101 record."""
        text = required_reason(reason)
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, request_id)
            check_allowed(RequestState(row.state), RequestAction.REJECT)
            return await self._reject(conn, row, text, actor=actor, now=now)

    async def extend(self, request_id: UUID, reason: str | None, *, actor: str) -> RequestRow:
        """Extend the response deadline once, within the first period, by the jurisdiction's extension."""
        text = required_reason(reason)
        rules_by_code = self._policy.current.policy.jurisdictions
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, request_id)
            check_allowed(RequestState(row.state), RequestAction.EXTEND)
            if row.extended:
                raise Conflict("a request is extended once only", field="extended")
            rules = rules_by_code[Jurisdiction(row.jurisdiction)]
            extension = rules.deadlines.for_request(RequestType(row.type)).extension
            if extension is None:
                raise Conflict(f"{row.jurisdiction} allows no extension for this request", field="jurisdiction")
            if now.date() > row.due_at:
                raise Conflict("an extension is taken within the first period, before it ends", field="due_at")
            due_at = add_period(row.due_at, extension, BusinessCalendar(holidays=rules.holidays))
            updated = await store.update_request(conn, row.id, now, due_at=due_at, extended=True, extension_reason=text)
            entry = _entry(actor, "request.extended", row, due_at=due_at.isoformat(), was=row.due_at.isoformat())
            await audit.record(conn, entry, now=now)
            return updated

    async def retry(self, request_id: UUID, *, actor: str) -> RequestRow:
        """Move on a verified request that did not (an opt-out whose recording failed), or put the
        parked work of one in progress back in the queue."""
        active = self._policy.current
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, request_id)
            check_allowed(RequestState(row.state), RequestAction.RETRY)
            if row.state == RequestState.IN_PROGRESS:
                await self._execution.retry(conn, row)
                await audit.record(conn, _entry(actor, "request.retried", row), now=now)
                return row
            if row.approval == Approval.MANUAL and row.approved_at is None:
                raise Conflict("this request waits for approval", field="state")
            row = await self._advance(conn, active, row, actor, now)
        return await self._finish(active, row, actor)

    async def acknowledge_delivery(self, request_id: UUID, recipient: str, *, actor: str) -> DeliveryRow:
        """A recipient confirms it carried out the request's order (audited); the last one completes it."""
        if await store.fetch_request(self._pool, request_id) is None:
            raise NotFound("no request has this id", field="request_id")
        return await orders.acknowledge_order(self._pool, request_id, recipient, actor=actor)

    async def retry_delivery(self, request_id: UUID, recipient: str, *, actor: str) -> DeliveryRow:
        """Put the request's order to `recipient`, parked as failed, back in the queue (audited)."""
        await orders.retry_order(self._pool, request_id, recipient, actor=actor)
        async with self._pool.acquire() as conn:
            delivery = await request_deliveries.fetch_delivery(conn, request_id, recipient)
        assert delivery is not None, "retry_order found it"
        return delivery

    async def _locked(self, conn: Connection, request_id: UUID) -> RequestRow:
        row = await store.fetch_request(conn, request_id, lock=True)
        if row is None:
            raise NotFound("no request has this id", field="request_id")
        return row

    async def _subject(self, conn: Connection, subject: Identifier | UUID, now: datetime) -> UUID:
        if isinstance(subject, Identifier):
            return (await self._subjects.find_or_create(conn, subject, now))[0]
        return await existing_subject(self._subjects, conn, subject)

    async def _verified(
        self, conn: Connection, active: ActivePolicy, row: RequestRow, actor: str, now: datetime
    ) -> RequestRow:
        row = await store.update_request(conn, row.id, now, state=RequestState.VERIFIED, verified_at=now)
        await audit.record(conn, _entry(actor, "request.verified", row, verification=row.verification), now=now)
        return await self._advance(conn, active, row, actor, now)

    async def _advance(
        self, conn: Connection, active: ActivePolicy, row: RequestRow, actor: str, now: datetime
    ) -> RequestRow:
        """Take a verified request as far as this transaction can: waiting, running or completed."""
        request_type = RequestType(row.type)
        target = next_state(request_type, Approval(row.approval), approved=row.approved_at is not None)
        if target is not RequestState.IN_PROGRESS:
            return row  # waiting for approval, or an opt-out (recorded after the commit: `_finish`)
        row = await store.update_request(conn, row.id, now, state=target)
        row, detail = await self._set_off(conn, active, row, now)
        await audit.record(conn, _entry(actor, _ACTION[RequestState(row.state)], row, **detail), now=now)
        return row

    async def _set_off(
        self, conn: Connection, active: ActivePolicy, row: RequestRow, now: datetime
    ) -> tuple[RequestRow, dict[str, audit.AuditValue]]:
        """What going in progress sets off in this transaction: the request's job; or, for an
        objection or a restriction, its effect on the subject's facts and its order to the
        recipients concerned (it stays in progress until they acknowledge; with none, it completes
        here). Returns the row as it now is and the detail its audit entry adds."""
        if row.type not in FACTS:
            await self._execution.enqueue(conn, row, now)
            return row, {}
        purposes = await effects.object_or_restrict(conn, active.policy, row, now)
        order = await effects.objection_order(conn, active.policy, row, purposes)
        if order is None:
            outcome: dict[str, audit.AuditValue] = {"purposes": purposes}
            row = await store.update_request(
                conn, row.id, now, state=RequestState.COMPLETED, completed_at=now, executed_at=now, outcome=outcome
            )
            return row, outcome
        outcome = {"purposes": purposes, "recipients": order.recipients}
        row = await store.update_request(conn, row.id, now, executed_at=now, outcome=outcome)
        await orders.enqueue_orders(conn, row, order, now)
        return row, outcome

    async def _finish(self, active: ActivePolicy, row: RequestRow, actor: str) -> RequestRow:
        """After the commit: drop the cached state of a changed subject; record an opt-out, then complete it."""
        if row.type in IMMEDIATE and row.state in (RequestState.COMPLETED, RequestState.IN_PROGRESS):
            self._states.evict(row.subject_id)  # its facts changed (an objection waits for its recipients' acks)
        if row.type != RequestType.OPT_OUT or row.state != RequestState.VERIFIED:
            return row
        if row.approval == Approval.MANUAL and row.approved_at is None:
            return row
        purposes = await effects.opt_out(self._consents, active, row, actor=actor)
        now = datetime.now(UTC)
        async with transaction(self._pool) as conn:
            row = await self._locked(conn, row.id)
            if row.state != RequestState.VERIFIED:
                return row  # finished meanwhile by a retry
            row = await store.update_request(conn, row.id, now, state=RequestState.COMPLETED, completed_at=now)
            await audit.record(conn, _entry(actor, "request.completed", row, purposes=purposes), now=now)
        return row

    async def _reject(self, conn: Connection, row: RequestRow, reason: str, *, actor: str, now: datetime) -> RequestRow:
        row = await store.update_request(
            conn, row.id, now, state=RequestState.REJECTED, rejected_at=now, rejection_reason=reason
        )
        await audit.record(conn, _entry(actor, "request.rejected", row), now=now)
        return row
