"""What the decision engine knows about a subject: the rows the service stores and reads.

Two tables, both keyed by subject so they shard with it:

- `ConsentState`, one row per (subject, purpose): the latest consent event, as derived from the
  append-only event log in the same transaction.
- `SubjectFacts`, one row per subject: the facts that cut across purposes.

Neither holds a rule: lifetimes, notice versions and regimes come from the policy at decision
time, so applying a new policy takes effect without rewriting any row.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from policies._codes import ConsentStatus

__all__ = ["NO_FACTS", "NO_SIGNALS", "ConsentState", "Signals", "SubjectFacts", "SubjectState"]


class ConsentState(msgspec.Struct, kw_only=True, frozen=True):
    """The latest choice of one subject about one purpose."""

    status: ConsentStatus
    notice_version: int
    """The notice version the choice was made under."""
    recorded_at: datetime
    """Server time the event was recorded (timezone-aware); expiry counts from here."""
    by_guardian: bool = False
    """True when a holder of parental responsibility made or authorised the choice."""


class SubjectFacts(msgspec.Struct, kw_only=True, frozen=True):
    """Facts about a subject that apply across purposes."""

    gpc_opt_out_at: datetime | None = None
    """When a Global Privacy Control signal was first recorded for this subject. It stays: a
    later request without the signal does not undo the opt-out."""
    direct_marketing_objected_at: datetime | None = None
    """When the subject objected to direct marketing (GDPR Art. 21(2)); it suppresses every
    direct-marketing purpose for good, whatever grants exist."""
    objected_purposes: frozenset[str] = frozenset()
    """Purposes the subject objected to (Art. 21(1)); each is denied until the objection is
    lifted at the subject's request."""
    birth_date: date | None = None
    """Only if the subject declared it; `None` is treated as an adult. Storing the latest birth
    date consistent with a declared age is enough and keeps less data."""


NO_FACTS = SubjectFacts()
"""A subject about whom nothing is known beyond their consent rows."""


class SubjectState(msgspec.Struct, kw_only=True, frozen=True):
    """The rows the decision engine reads for one (subject, purpose)."""

    consent: ConsentState | None
    """`None` when the subject has never made a choice about this purpose."""
    facts: SubjectFacts = NO_FACTS


class Signals(msgspec.Struct, kw_only=True, frozen=True):
    """What the current request tells us, beyond the stored state."""

    gpc: bool = False
    """The request carries `Sec-GPC: 1` (or the client reported `navigator.globalPrivacyControl`)."""


NO_SIGNALS = Signals()
