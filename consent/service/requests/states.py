"""The request state machine, as pure rules: which action each state allows, and where a
verified request goes next.

    received ──verify──▶ verified ──(approve, if manual)──▶ in_progress ──▶ completed
        │                   │                                   │
        └───────────────────┴──────────── reject ───────────────┴──▶ rejected

`opt_out`, `object` and `restrict` take effect in the use case that verifies (or approves)
them, so they go from verified straight to completed. The other types are run by a job
(`execution.py`) by the executor registered for their type (erasure and rectification have one;
a type without one stays in progress), and complete once their work is done and every recipient
acknowledged its order (`orders.py`). `retry` moves on a verified request that stopped, or puts
the parked job of one in progress back.
"""

from __future__ import annotations

import enum

from consent.errors import Conflict
from policies import Approval, RequestType

__all__ = [
    "FACTS",
    "IMMEDIATE",
    "OPEN",
    "UNVERIFIED",
    "RequestAction",
    "RequestState",
    "check_allowed",
    "next_state",
    "states_at_receipt",
]


class RequestState(enum.StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


class RequestAction(enum.StrEnum):
    VERIFY = "verify"
    APPROVE = "approve"
    REJECT = "reject"
    EXTEND = "extend"
    RETRY = "retry"


OPEN = frozenset({RequestState.RECEIVED, RequestState.VERIFIED, RequestState.IN_PROGRESS})
IMMEDIATE = frozenset({RequestType.OPT_OUT, RequestType.OBJECT, RequestType.RESTRICT})
"""Types whose effect is a change of consent facts, made at once."""
FACTS = frozenset({RequestType.OBJECT, RequestType.RESTRICT})
"""Types whose effect is written to the subject's facts as they go in progress, in that transaction:
completed there, or, ordered to recipients, once they acknowledge (`effects.objection_order`). They
are open meanwhile, so a second objection while the first waits is the same request."""
UNVERIFIED = frozenset({RequestType.OPT_OUT, RequestType.OBJECT})
"""Types honoured without verifying the person (CCPA regs §7026(d); GDPR Art. 21 asks no proof)."""

_ALLOWED = {
    RequestAction.VERIFY: frozenset({RequestState.RECEIVED}),
    RequestAction.APPROVE: frozenset({RequestState.VERIFIED}),
    RequestAction.REJECT: OPEN,
    RequestAction.EXTEND: OPEN,
    RequestAction.RETRY: frozenset({RequestState.VERIFIED, RequestState.IN_PROGRESS}),
}

_PAST = {
    RequestAction.VERIFY: "verified",
    RequestAction.APPROVE: "approved",
    RequestAction.REJECT: "rejected",
    RequestAction.EXTEND: "extended",
    RequestAction.RETRY: "retried",
}


def check_allowed(state: RequestState, action: RequestAction) -> None:
    """Conflict (409) unless a request in `state` may take `action`."""
    if state not in _ALLOWED[action]:
        raise Conflict(f"a {state.value} request cannot be {_PAST[action]}", field="state")


def next_state(request_type: RequestType, approval: Approval, *, approved: bool) -> RequestState:
    """Where a verified request goes: it waits for approval, completes at once (an opt-out), or runs."""
    if approval is Approval.MANUAL and not approved:
        return RequestState.VERIFIED
    return RequestState.COMPLETED if request_type is RequestType.OPT_OUT else RequestState.IN_PROGRESS


def states_at_receipt(request_type: RequestType, approval: Approval, *, verified: bool) -> list[RequestState]:
    """The states a new request passes through in the transaction that receives it, the last one
    the state it is written in: received (waiting for its code); or received, verified and where
    a verified request goes next. An opt-out stays verified there: it is recorded after the commit
    (`handling.py`), then completed."""
    if not verified:
        return [RequestState.RECEIVED]
    target = next_state(request_type, approval, approved=False)
    if target is RequestState.VERIFIED or request_type is RequestType.OPT_OUT:
        return [RequestState.RECEIVED, RequestState.VERIFIED]
    return [RequestState.RECEIVED, RequestState.VERIFIED, target]
