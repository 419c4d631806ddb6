"""Finding a subject by one identifier for compliance (`POST /v1/subjects/lookup`), audited.

A lookup ties an email address, phone number or user id to a person's subject: the audit trail
records who asked, by which kind of identifier, and what was found, never the identifier itself.
"""

from __future__ import annotations

from uuid import UUID

from consent.service import audit
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.store.pool import Pool, transaction

__all__ = ["lookup_subject"]


async def lookup_subject(pool: Pool, subjects: Subjects, identifier: Identifier, *, actor: str) -> UUID | None:
    """The subject `identifier` belongs to, or None; either way an audit entry `subject.lookup`."""
    async with transaction(pool) as conn:
        subject_id = await subjects.find(conn, identifier)
        if subject_id is None:
            entry = audit.AuditEntry(
                actor=actor, action="subject.lookup", detail={"kind": identifier.kind, "found": False}
            )
        else:
            entry = audit.subject_action(actor, "subject.lookup", subject_id, kind=identifier.kind, found=True)
        await audit.record(conn, entry)
    return subject_id
