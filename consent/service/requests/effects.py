"""What an opt-out, an objection or a restriction changes: the facts the decision engine reads.

An objection or a restriction is written to `subject_facts` in the caller's transaction, with the
request's transition and audit entry; the table's trigger NOTIFYs every instance, whose state
caches drop the subject. An opt-out is recorded as `denied` consent events (source `request`)
through the recording service, so the change feed and the recipients see it like any choice;
that write commits on its own, before the request is marked completed.

An objection or a restriction is also ordered to every recipient that may process the subject's
data for a purpose it names (GDPR Art. 19 asks it for a restriction; an objection to direct
marketing must reach the vendor that sends the mail): `object.ordered` or `restrict.ordered`, ids
and purpose names only. The request then stays in progress until every recipient acknowledges.
"""

from __future__ import annotations

from datetime import datetime

from consent.service.policy_versions import ActivePolicy
from consent.service.recording.consents import ConsentService
from consent.service.recording.prepare import Action, Choice, RecordingRequest, Source
from consent.service.requests.orders import ORDER_SUFFIX, Order, recipients_for
from consent.store import consent_state
from consent.store.pool import Connection
from consent.store.requests import RequestRow
from policies import ConsentStatus, Jurisdiction, Policy, RequestType

__all__ = [
    "OBJECTION_ORDERED",
    "RESTRICTION_ORDERED",
    "object_or_restrict",
    "objection_order",
    "opt_out",
    "restricted_purposes",
]

OBJECTION_ORDERED = "object" + ORDER_SUFFIX
RESTRICTION_ORDERED = "restrict" + ORDER_SUFFIX


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


async def objection_order(conn: Connection, policy: Policy, request: RequestRow, purposes: list[str]) -> Order | None:
    """The order of an objection or restriction naming `purposes` (none: direct marketing as a
    whole) to each recipient that may hold the subject's data for one of them
    (`orders.recipients_for`); None when no recipient is concerned."""
    direct_marketing = request.type == RequestType.OBJECT and not purposes
    affected = (
        sorted(p.id for p in policy.purposes.values() if p.direct_marketing) if direct_marketing else sorted(purposes)
    )
    recipients = await recipients_for(conn, policy, request.subject_id, affected)
    if not recipients:
        return None
    kind = OBJECTION_ORDERED if request.type == RequestType.OBJECT else RESTRICTION_ORDERED
    return Order(kind=kind, payload={"purposes": affected, "direct_marketing": direct_marketing}, recipients=recipients)


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
