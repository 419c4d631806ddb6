"""The consent use cases: record a choice, withdraw one, read a subject's state and history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import InvalidInput, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.checking.checked_subjects import CheckedSubject, find_checked_subjects
from consent.service.checking.cold_reads import ColdReads
from consent.service.checking.state_cache import StateCache, SubjectSnapshot
from consent.service.policy_versions import ActivePolicy
from consent.service.recording.prepare import (
    Action,
    Choice,
    PreparedWrite,
    RecordingRequest,
    RecordOut,
    Source,
    prepare_write,
    validate_choices,
)
from consent.service.recording.writer import ConsentWriter, Replay, WriteRequest, earlier_answer
from consent.service.replica import Reads
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.data_keys import DataKeys
from consent.store import consent_events as events_store
from consent.store.pool import Pool
from crypto import SigningKeyRing
from policies import NO_SIGNALS, ConsentStatus, Decision, Jurisdiction, SubjectState, decide

__all__ = ["ConsentService", "PurposeConsent", "SubjectConsents"]


class PurposeConsent(msgspec.Struct, kw_only=True, frozen=True):
    """A subject's current choice for one purpose, and what the decision engine makes of it now."""

    purpose: str
    status: str
    notice_version: int
    recorded_at: datetime
    decision: Decision


class SubjectConsents(msgspec.Struct, kw_only=True, frozen=True):
    """A subject's consents under the active policy; `history` (every event) only when asked for."""

    subject_id: UUID
    policy_version: int
    jurisdiction: Jurisdiction
    gpc_opt_out_at: datetime | None
    consents: list[PurposeConsent]
    history: list[dict[str, Any]] | None


class ConsentService:
    """Recording and reading consent for one process; holds nothing but references."""

    def __init__(
        self,
        pool: Pool,
        *,
        reads: Reads,
        cold_reads: ColdReads,
        subjects: Subjects,
        data_keys: DataKeys,
        states: StateCache,
        writer: ConsentWriter,
        signing_keys: SigningKeyRing,
    ) -> None:
        self._pool = pool
        self._reads = reads
        self._cold_reads = cold_reads
        self._subjects = subjects
        self._data_keys = data_keys
        self._states = states
        self._writer = writer
        self._signing_keys = signing_keys

    async def record(
        self, active: ActivePolicy, request: RecordingRequest, *, on_new_subject: Callable[[], None] | None = None
    ) -> RecordOut | Replay:
        """Validate, prepare and commit one request; nothing is returned before the commit.

        `on_new_subject` is called once the write is committed if it created its subject.
        """
        choices = validate_choices(active, request)
        if request.idempotency is not None:
            replay = await earlier_answer(self._pool, request.idempotency)
            if replay is not None:
                return replay
        # Only the caches are asked here; whatever they do not know, the batch reads in one go.
        subject_id = request.subject_id
        if subject_id is None and request.identifier is not None:
            subject_id = self._subjects.cached(request.identifier)[1]
        snapshot = self._states.cached(subject_id) if subject_id is not None else None
        now = datetime.now(UTC)

        def prepare(for_subject: UUID, seen: SubjectSnapshot) -> PreparedWrite:
            return prepare_write(
                active,
                self._signing_keys,
                recording=request,
                choices=choices,
                snapshot=seen,
                subject_id=for_subject,
                now=now,
            )

        prepared = prepare(subject_id, snapshot) if subject_id is not None and snapshot is not None else None
        write = WriteRequest(
            request=request, prepare=prepare, subject_id=subject_id, planned_id=subject_id or uuid7(), prepared=prepared
        )
        result = await self._writer.submit(write)
        if isinstance(result, Replay):
            return result
        if on_new_subject is not None and subject_id is None and result.subject_id == write.planned_id:
            on_new_subject()
        return result.response

    async def withdraw(
        self, active: ActivePolicy, subject_id: UUID, purpose_id: str, *, actor: str, proof: dict[str, Any]
    ) -> RecordOut:
        """Withdraw consent to one purpose: as easy as giving it, and recorded the same way."""
        if await self._data_keys.get(self._pool, subject_id) is None:
            raise NotFound("no subject has this id", field="subject_id")
        purpose = active.policy.purposes.get(purpose_id)
        if purpose is None:
            raise NotFound("not a purpose of the active policy", field="purpose")
        if purpose.exempt:
            raise InvalidInput("no choice applies to this purpose, so there is nothing to withdraw", field="purpose")
        snapshot = await self._states.get(self._pool, subject_id)
        current = snapshot.consents.get(purpose_id)
        notice_version = current.notice_version if current is not None else purpose.notice_version
        request = RecordingRequest(
            subject_id=subject_id,
            property="api",
            jurisdiction=snapshot.jurisdiction or Jurisdiction.DEFAULT,
            language=None,
            action=Action.WITHDRAW,
            choices=[
                Choice(
                    purpose=purpose_id,
                    status=ConsentStatus.DENIED.value,
                    notice_version=max(notice_version, purpose.min_notice_version),
                )
            ],
            gpc=False,
            client_at=None,
            proof=proof,
            actor=actor,
            source=Source.API,
        )
        result = await self.record(active, request)
        assert isinstance(result, RecordOut)
        return result

    async def snapshot(self, subject_id: UUID) -> SubjectSnapshot:
        """The subject's state as a check by its id reads it: from the state cache, else through the
        check path's cold reads (the replica, when it has replayed the subject's writes). NotFound
        for an unknown or erased subject."""
        checked = CheckedSubject(subject_id=subject_id)
        await find_checked_subjects(self._cold_reads, self._subjects, self._states, [checked], reveal_contacts=True)
        if checked.snapshot is None:
            raise NotFound("no subject has this id", field="subject_id")
        return checked.snapshot

    async def subject_consents(
        self, active: ActivePolicy, subject_id: UUID, *, history: bool, actor: str
    ) -> SubjectConsents:
        """The subject's current choice per purpose of `active`, each with its decision now (no
        signals); with `history`, every event too (an audited read). NotFound for an unknown subject."""
        snapshot = await self.snapshot(subject_id)
        jurisdiction = snapshot.jurisdiction or Jurisdiction.DEFAULT
        rules = active.policy.jurisdictions[jurisdiction]
        now = datetime.now(UTC)
        consents = []
        for purpose_id, state in sorted(snapshot.consents.items()):
            purpose = active.policy.purposes.get(purpose_id)
            if purpose is None:
                continue
            decision = decide(purpose, SubjectState(consent=state, facts=snapshot.facts), rules, NO_SIGNALS, now)
            consents.append(
                PurposeConsent(
                    purpose=purpose_id,
                    status=state.status.value,
                    notice_version=state.notice_version,
                    recorded_at=state.recorded_at,
                    decision=decision,
                )
            )
        return SubjectConsents(
            subject_id=subject_id,
            policy_version=active.version,
            jurisdiction=jurisdiction,
            gpc_opt_out_at=snapshot.facts.gpc_opt_out_at,
            consents=consents,
            history=await self.history(subject_id, actor=actor) if history else None,
        )

    async def history(self, subject_id: UUID, *, actor: str) -> list[dict[str, Any]]:
        """Every event of the subject, oldest first; reading it is audited."""
        rows = await self._reads.run(lambda db: events_store.fetch_history(db, subject_id), subjects=(subject_id,))
        async with self._pool.acquire() as conn:
            await audit.record(conn, audit.subject_action(actor, "consent.history_read", subject_id, events=len(rows)))
        return [msgspec.structs.asdict(row) for row in rows]
