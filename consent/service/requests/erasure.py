"""Executing an erasure: legal exceptions first, then everything else about the subject goes.

**Exceptions.** A legal hold on the subject (`holds.py`) keeps the data categories it names, or
every category when it names none; a data category whose retention the policy marks with a
`legal_obligation` is kept too. What is kept is the personal-record fields those categories
declare (`personal_fields`), with the identifiers of the same kind, so the subject stays findable
for whoever holds it. The outcome lists each exception: category, reason (`legal_hold` with the
hold's id, or `legal_obligation` with the policy's text) and the fields kept; nothing personal.

**Erasure.** With nothing kept, the subject is crypto-shredded (`erase_subject_keys`: data key,
blind indexes, tombstone, the birth date copied to its facts) and its record's rows deleted: every
ciphertext of the subject, here and in backups, is unreadable. With something kept the data key
must stay: the fields and identifiers not kept are deleted instead, and the erasure is recorded
with the fields it kept, so that a replay into a restored backup deletes them again
(`consent.service.vault.partial_erasure`). Either way the notes and corrections stored with its
requests, its stored Idempotency-Key answers, its messages not yet sent and any plain user-agent
digest in its proofs are deleted. The consent history stays, as
pseudonymous proof.

**Orders.** Every recipient serving a purpose the subject ever consented to is sent an
`erasure.ordered` message naming the categories it must keep (`keep_categories`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from consent.service.policy_versions import PolicyHolder
from consent.service.requests.execution import ACTOR, Executed, Executor, Order, notify_subject_changed
from consent.service.requests.orders import ORDER_SUFFIX, recipients_for
from consent.service.subjects.identifiers import Subjects
from consent.service.vault.partial_erasure import EVERY_FIELD, delete_linkable, erase_all_but
from consent.service.vault.personal_records import erase_subject_keys
from consent.store import erasure
from consent.store import vault as vault_store
from consent.store.holds import HoldRow, fetch_holds
from consent.store.pool import Connection
from consent.store.requests import RequestRow
from policies import Policy

__all__ = ["ERASURE_ORDERED", "EVERY_CATEGORY", "Kept", "erasure_executor", "exceptions"]

ERASURE_ORDERED = "erasure" + ORDER_SUFFIX
EVERY_CATEGORY = "*"
"""The category of a hold that names none."""


class Kept(msgspec.Struct, kw_only=True, frozen=True):
    """One legal exception to an erasure."""

    category: str
    """A data category of the policy, or `*` for a hold on everything."""
    reason: str
    """`legal_hold` or `legal_obligation`."""
    basis: str
    """The hold's id, or the policy's `legal_obligation` text."""
    fields: list[str]
    """The subject's record fields kept for it (empty: it held none of this category)."""


def exceptions(policy: Policy, holds: Sequence[HoldRow], stored_fields: Sequence[str]) -> list[Kept]:
    """What an erasure must keep, and why: holds first, then the policy's legal obligations."""
    stored = set(stored_fields)

    def fields_of(category: str) -> list[str]:
        if category == EVERY_CATEGORY:
            return sorted(stored)
        retention = policy.retention.get(category)
        return [] if retention is None else sorted(f.value for f in retention.personal_fields if f.value in stored)

    kept = [
        Kept(category=category, reason="legal_hold", basis=str(hold.id), fields=fields_of(category))
        for hold in holds
        for category in (hold.data_categories or [EVERY_CATEGORY])
    ]
    kept += [
        Kept(category=category, reason="legal_obligation", basis=retention.legal_obligation, fields=fields_of(category))
        for category, retention in sorted(policy.retention.items())
        if retention.legal_obligation is not None
    ]
    return kept


def erasure_executor(subjects: Subjects, policy: PolicyHolder) -> Executor:
    """The executor of erasure requests (see the module docstring)."""

    async def erase(conn: Connection, request: RequestRow, now: datetime) -> Executed:
        subject_id = request.subject_id
        active = policy.current.policy
        stored = [row.field for row in await vault_store.fetch_record_fields(conn, subject_id)]
        kept = exceptions(active, await fetch_holds(conn, subject_id), stored)
        everything = any(k.category == EVERY_CATEGORY for k in kept)
        kept_fields = sorted({field for k in kept for field in k.fields})
        erased_fields = sorted(set(stored) - set(kept_fields))
        shredded = False
        if kept_fields:
            kept_or_all = [EVERY_FIELD] if everything else kept_fields
            await erase_all_but(conn, subjects, subject_id, kept_or_all, erased_at=now)
        else:
            await erasure.delete_record_fields(conn, subject_id)
            shredded = await erase_subject_keys(conn, subjects, subject_id, actor=ACTOR)
        deleted = await delete_linkable(conn, subject_id, keeping_suffix=ORDER_SUFFIX)
        await notify_subject_changed(conn, subject_id)
        keep_categories = sorted({k.category for k in kept})
        recipients = await recipients_for(conn, active, subject_id)
        outcome: dict[str, Any] = {
            "crypto_shredded": shredded,
            "erased_fields": erased_fields,
            "kept": msgspec.to_builtins(kept),
            "deleted": deleted,
        }
        return Executed(
            outcome=outcome,
            audit={
                "crypto_shredded": shredded,
                "erased_fields": erased_fields,
                "kept_fields": kept_fields,
                "kept_categories": keep_categories,
                "kept_reasons": sorted({f"{k.category}: {k.reason} {k.basis}" for k in kept}),
                **deleted,
            },
            order=Order(kind=ERASURE_ORDERED, payload={"keep_categories": keep_categories}, recipients=recipients),
        )

    return erase
