"""Linking a device to a known person: the anonymous choices made on a device follow them.

A visitor chooses on the banner as an anonymous `device_id`; when they sign in,
the site links that device to their `user_id`. The device identifier moves to
the person's subject, and the device's choices are carried over for every
purpose the person has not decided more recently (as `import` events, keeping
the time the choice was made, so a consent lifetime is never extended).

Only a secret key, or a page holding an identity token that the site's backend
signed (HMAC-SHA256 with `CONSENT_LINK_TOKEN_SECRET`), may link: a page script
must never attach a device to someone else's account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec

from consent.errors import Forbidden, InvalidInput
from consent.ids import uuid7
from consent.service import audit
from consent.service.checking.state_cache import StateCache, SubjectSnapshot
from consent.service.policy_versions import ActivePolicy
from consent.service.recording.prepare import Action, Source
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.store.consent_batch import BatchRows, write_batch
from consent.store.consent_events import ConsentEventRow
from consent.store.consent_state import ConsentStateRow
from consent.store.pool import Pool
from policies import Jurisdiction

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "IdentityToken",
    "LinkResult",
    "link_device",
    "sign_identity_token",
    "verify_identity_token",
]

# How far ahead an identity token's `exp` may be: a page links its device right after sign-in.
MAX_TOKEN_LIFETIME = timedelta(hours=1)


class IdentityToken(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What the site's backend vouches for: this signed-in user, on this device, until `exp`."""

    user_id: str
    device_id: str
    exp: int


class LinkResult(msgspec.Struct, kw_only=True, frozen=True):
    subject_id: UUID
    linked_from: UUID | None
    carried_purposes: list[str]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_identity_token(secret: str, token: IdentityToken) -> str:
    """`base64url(json).base64url(HMAC-SHA256)`: what a site's backend hands its page (any language can)."""
    body = _b64(msgspec.json.encode(token))
    return body + "." + _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def verify_identity_token(secret: str | None, text: str, now: datetime) -> IdentityToken:
    """The token's claims, if `secret` signed it and it holds at `now`; Forbidden or InvalidInput naming `token`.

    A token may live at most `MAX_TOKEN_LIFETIME` from `now`: one that lives longer would be as good as
    a password for linking that device, for as long as it says.
    """
    if not secret:
        raise Forbidden("linking from a page needs CONSENT_LINK_TOKEN_SECRET configured", field="token")
    body, _, signature = text.partition(".")
    # A token is base64url text; anything else cannot be one (and `compare_digest` takes ASCII text only).
    if not text.isascii():
        raise Forbidden("the identity token's signature is not valid", field="token")
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise Forbidden("the identity token's signature is not valid", field="token")
    try:
        token = msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), type=IdentityToken)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidInput("the identity token is malformed", field="token") from None
    if token.exp < now.timestamp():
        raise Forbidden("the identity token has expired", field="token")
    if token.exp > now.timestamp() + MAX_TOKEN_LIFETIME.total_seconds():
        raise Forbidden("an identity token may live at most an hour (exp)", field="token")
    return token


def _carry(
    active: ActivePolicy,
    user: UUID,
    device_state: SubjectSnapshot,
    user_state: SubjectSnapshot,
    *,
    actor: str,
    now: datetime,
) -> tuple[list[ConsentEventRow], list[ConsentStateRow], list[str]]:
    """Events and state rows that give `user` the device's choices it has not made more recently."""
    events: list[ConsentEventRow] = []
    states: list[ConsentStateRow] = []
    carried: list[str] = []
    jurisdiction = device_state.jurisdiction or user_state.jurisdiction or Jurisdiction.DEFAULT
    for purpose_id, choice in device_state.consents.items():
        mine = user_state.consents.get(purpose_id)
        if purpose_id not in active.policy.purposes or (mine is not None and mine.recorded_at >= choice.recorded_at):
            continue
        event = ConsentEventRow(
            subject_id=user,
            id=uuid7(),
            purpose=purpose_id,
            status=choice.status,
            action=Action.API,
            source=Source.IMPORT,
            jurisdiction=jurisdiction,
            language=None,
            property="link",
            notice_version=choice.notice_version,
            policy_version=active.version,
            gpc=False,
            client_at=choice.recorded_at,  # when the choice was made, so its lifetime is not extended
            recorded_at=now,
            receipt_id=None,
            proof={"linked_by": actor},
        )
        events.append(event)
        states.append(
            ConsentStateRow(
                subject_id=user,
                purpose=purpose_id,
                status=choice.status,
                notice_version=choice.notice_version,
                recorded_at=choice.recorded_at,
                event_id=event.id,
            )
        )
        carried.append(purpose_id)
    return events, states, carried


async def link_device(
    pool: Pool,
    subjects: Subjects,
    states: StateCache,
    active: ActivePolicy,
    *,
    device: Identifier,
    user: Identifier,
    actor: str,
) -> LinkResult:
    """Link `device` to the subject of `user` (created if new), in one audited transaction."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        user_id, _ = await subjects.find_or_create(conn, user, now)
        key = await subjects.data_keys.get(conn, user_id)
        assert key is not None
        previous = await subjects.move(conn, device, to=user_id, key=key, now=now)
        carried: list[str] = []
        if previous is not None:
            snapshots = await states.get_many(conn, [previous, user_id])
            events, state_rows, carried = _carry(
                active, user_id, snapshots[previous], snapshots[user_id], actor=actor, now=now
            )
            entry = audit.AuditEntry(
                actor=actor,
                action="subject.link",
                target={"subject_id": str(user_id), "linked_from": str(previous)},
                detail={"carried_purposes": carried},
            )
            rows = BatchRows(
                events=events, states=state_rows, facts=[], audit=audit.entry_rows([entry], now), outbox=[]
            )
            await write_batch(conn, rows)
        else:
            await audit.record(
                conn,
                audit.subject_action(actor, "subject.link", user_id),
                now=now,
            )
    subjects.forget_changed([] if previous is None else [previous], [device, user])  # after the commit: see `move`
    states.evict(user_id)
    return LinkResult(subject_id=user_id, linked_from=previous, carried_purposes=carried)
