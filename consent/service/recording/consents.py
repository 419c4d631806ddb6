"""The consent use cases: record a choice, withdraw one, read a subject's state and history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import InvalidInput, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.checking.state_cache import StateCache, SubjectSnapshot
from consent.service.policy_versions import ActivePolicy
from consent.service.recording.prepare import (
    Action,
    Choice,
    Idempotency,
    PreparedWrite,
    Recording,
    RecordOut,
    Source,
    ValidChoice,
    prepare_write,
    validate_choices,
)
from consent.service.recording.writer import ConsentWriter, Replay, WriteRequest
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.service.vault.data_keys import DataKeys
from consent.store import consent_events as events_store
from consent.store.pool import Pool
from crypto import SigningKeyRing
from policies import ConsentStatus, Jurisdiction

__all__ = ["ConsentService", "RecordRequest"]


class RecordRequest(msgspec.Struct, kw_only=True, frozen=True):
    """A consent request as the HTTP layer hands it over (already shape-checked)."""

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
    idempotency: Idempotency | None = None
    source: Source = Source.BANNER


class ConsentService:
    """Recording and reading consent for one process; holds nothing but references."""

    def __init__(
        self,
        pool: Pool,
        *,
        subjects: Subjects,
        data_keys: DataKeys,
        states: StateCache,
        writer: ConsentWriter,
        signing_keys: SigningKeyRing,
    ) -> None:
        self._pool = pool
        self._subjects = subjects
        self._data_keys = data_keys
        self._states = states
        self._writer = writer
        self._signing_keys = signing_keys

    async def record(self, active: ActivePolicy, request: RecordRequest) -> RecordOut | Replay:
        """Validate, prepare and commit one request; nothing is returned before the commit."""
        choices = validate_choices(active, request.action, request.choices)
        if request.idempotency is not None:
            replay = await self._earlier_answer(request.idempotency)
            if replay is not None:
                return replay
        # Only the caches are asked here; whatever they do not know, the batch reads in one go.
        subject_id = request.subject_id
        if subject_id is None and request.identifier is not None:
            subject_id = self._subjects.cached(request.identifier)[1]
        snapshot = self._states.cached(subject_id) if subject_id is not None else None
        recording = _recording(request, choices, request.subject_id)
        now = datetime.now(UTC)

        def prepare(for_subject: UUID, seen: SubjectSnapshot) -> PreparedWrite:
            return prepare_write(
                active, self._signing_keys, recording=recording, snapshot=seen, subject_id=for_subject, now=now
            )

        if subject_id is not None:
            recording = msgspec.structs.replace(recording, subject_id=subject_id)
        prepared = prepare(subject_id, snapshot) if subject_id is not None and snapshot is not None else None
        write = WriteRequest(recording, prepare, planned_id=subject_id or uuid7(), prepared=prepared)
        result = await self._writer.submit(write)
        return result if isinstance(result, Replay) else result.response

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
        request = RecordRequest(
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
        if await self._data_keys.get(self._pool, subject_id) is None:
            raise NotFound("no subject has this id", field="subject_id")
        return await self._states.get(self._pool, subject_id)

    async def history(self, subject_id: UUID, *, actor: str) -> list[dict[str, Any]]:
        """Every event of the subject, oldest first; reading it is audited."""
        rows = await events_store.fetch_history(self._pool, subject_id)
        async with self._pool.acquire() as conn:
            await audit.record(
                conn,
                audit.AuditEntry(
                    actor=actor,
                    action="consent.history_read",
                    target={"subject_id": str(subject_id)},
                    detail={"events": len(rows)},
                ),
            )
        return [dict(row) for row in rows]

    async def _earlier_answer(self, idempotency: Idempotency) -> Replay | None:
        stored = await events_store.fetch_idempotency(self._pool, idempotency.api_key_id, idempotency.key)
        if stored is None:
            return None
        if bytes(stored["request_hash"]) != idempotency.request_hash:
            raise InvalidInput("this Idempotency-Key was used with a different body", field="idempotency-key")
        return Replay(status=stored["status"], body=stored["response"])


def _recording(request: RecordRequest, choices: list[ValidChoice], subject_id: UUID | None) -> Recording:
    return Recording(
        identifier=request.identifier,
        subject_id=subject_id,
        property=request.property,
        jurisdiction=request.jurisdiction,
        language=request.language,
        action=request.action,
        source=request.source,
        choices=choices,
        gpc=request.gpc,
        client_at=request.client_at,
        proof=request.proof,
        actor=request.actor,
        idempotency=request.idempotency,
    )
