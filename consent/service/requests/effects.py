"""What an opt-out, an objection or a restriction changes: the facts the decision engine reads.

An objection or a restriction is written to `subject_facts` in the caller's transaction, with the
request's transition and audit entry; the table's trigger NOTIFYs every instance, whose state
caches drop the subject. An opt-out is recorded as `denied` consent events (source `request`)
through the recording service, so the change feed and the recipients see it like any choice;
that write commits on its own, before the request is marked completed.
"""

from __future__ import annotations

from datetime import datetime

from consent.service.policy_versions import ActivePolicy
from consent.service.recording.consents import ConsentService
from consent.service.recording.prepare import Action, Choice, RecordingRequest, Source
from consent.store import consent_state
from consent.store.pool import Connection
from consent.store.requests import RequestRow
from policies import ConsentStatus, Jurisdiction, Policy, RequestType

__all__ = ["object_or_restrict", "opt_out", "restricted_purposes"]


def restricted_purposes(policy: Policy, named: list[str]) -> list[str]:
    """The purposes a restriction stops: those named, or else every purpose that rests on a choice."""
    if named:
        return sorted(named)
    return sorted(purpose.id for purpose in policy.purposes.values() if not purpose.exempt)


async def object_or_restrict(conn: Connection, policy: Policy, request: RequestRow, now: datetime) -> list[str]:
    """Write the objection or restriction into the subject's facts; returns the purposes it names
    (empty: an objection to direct marketing as a whole)."""
    if request.type == RequestType.OBJECT and not request.purposes:
        await consent_state.add_objections(conn, request.subject_id, direct_marketing_at=now, purposes=[])
        return []
    purposes = (
        restricted_purposes(policy, request.purposes) if request.type == RequestType.RESTRICT else request.purposes
    )
    await consent_state.add_objections(conn, request.subject_id, direct_marketing_at=None, purposes=purposes)
    return purposes


async def opt_out(consents: ConsentService, active: ActivePolicy, request: RequestRow, *, actor: str) -> list[str]:
    """Record `denied` for every sale-or-sharing purpose; returns their ids."""
    purposes = [p for p in active.policy.purposes.values() if p.sale_or_sharing and not p.exempt]
    if not purposes:
        return []
    recording = RecordingRequest(
        subject_id=request.subject_id,
        property="requests",
        jurisdiction=Jurisdiction(request.jurisdiction),
        language=None,
        action=Action.API,
        choices=[
            Choice(purpose=p.id, status=ConsentStatus.DENIED.value, notice_version=p.notice_version) for p in purposes
        ],
        gpc=False,
        client_at=None,
        proof={"request_id": str(request.id), "channel": request.channel},
        actor=actor,
        source=Source.REQUEST,
    )
    await consents.record(active, recording)
    return [p.id for p in purposes]
