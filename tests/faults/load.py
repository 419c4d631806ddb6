"""Writers that record consents over HTTP and keep every acknowledged answer, and the checks run afterwards.

A write counts as acknowledged only when the service answered 201: that answer (its event ids and
signed receipt) is what a site keeps as proof, so each must survive whatever happens next. A write
whose answer never arrived (the service died first) may or may not have been committed; either way
it must be whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

import httpx

from consent.store.pool import Connection
from crypto import public_keys_from_jwks, verify_jws
from tests.faults.figures import FIGURES, personal
from tests.helpers import bearer, choices

__all__ = ["Acknowledged", "Ledger", "assert_acknowledged_writes_kept", "assert_audit_verifies", "write"]

WRITERS = 16
_PAUSE_WHEN_DOWN = 0.2  # seconds a writer waits after a refused connection before it tries again


@dataclass(frozen=True)
class Acknowledged:
    subject_id: str
    event_ids: tuple[str, ...]
    receipt: str
    receipt_id: str


@dataclass
class Ledger:
    """What the writers sent and what the service acknowledged."""

    acknowledged: list[Acknowledged] = field(default_factory=list)
    requests: int = 0
    unanswered: int = 0
    server_errors: list[str] = field(default_factory=list)


async def write(http: httpx.AsyncClient, url: str, token: str, ledger: Ledger, stop: asyncio.Event) -> None:
    """One writer: record a new device's choices again and again until `stop`, keeping every 201."""
    while not stop.is_set():
        ledger.requests += 1
        FIGURES.requests += 1
        try:
            response = await http.post(
                f"{url}/v1/consents", json=choices(subject={"device_id": personal("device_id")}), headers=bearer(token)
            )
        except httpx.TransportError:
            ledger.unanswered += 1  # the service is down, or died while answering
            await asyncio.sleep(_PAUSE_WHEN_DOWN)
            continue
        if response.status_code >= 500:
            FIGURES.server_errors += 1
            ledger.server_errors.append(f"{response.status_code} {response.text[:300]}")
        elif response.status_code == 201:
            body = response.json()
            ledger.acknowledged.append(
                Acknowledged(
                    subject_id=body["subject_id"],
                    event_ids=tuple(body["event_ids"]),
                    receipt=body["receipt"],
                    receipt_id=body["receipt_id"],
                )
            )
            FIGURES.acknowledged += 1
        else:
            raise AssertionError(f"a valid recording answered {response.status_code}: {response.text[:300]}")


async def assert_acknowledged_writes_kept(conn: Connection, ledger: Ledger, jwks: bytes) -> None:
    """Every acknowledged event is stored and its receipt verifies; every stored write is whole."""
    acknowledged = [UUID(event) for ack in ledger.acknowledged for event in ack.event_ids]
    stored = {row["id"] for row in await conn.fetch("SELECT id FROM consent_events WHERE id = ANY($1)", acknowledged)}
    lost = [event for event in acknowledged if event not in stored]
    FIGURES.lost += len(lost)
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged events are missing: {lost[:5]}"

    keys = public_keys_from_jwks(jwks)
    for ack in ledger.acknowledged:
        payload = json.loads(verify_jws(ack.receipt, keys))
        assert (payload["receipt_id"], payload["subject_id"]) == (ack.receipt_id, ack.subject_id)

    # Whole or absent: each write is one receipt with its events, its audit entry and the state it set.
    halves = await conn.fetch(
        """
        WITH writes AS (SELECT DISTINCT subject_id, receipt_id FROM consent_events WHERE receipt_id IS NOT NULL)
        SELECT w.receipt_id, 'no audit entry' AS missing FROM writes w
         WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                            WHERE a.action = 'consent.record' AND a.target->>'receipt_id' = w.receipt_id::text)
        UNION ALL
        SELECT (a.target->>'receipt_id')::uuid, 'no events' FROM audit_log a
         WHERE a.action = 'consent.record'
           AND NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.receipt_id = (a.target->>'receipt_id')::uuid)
        UNION ALL
        SELECT e.receipt_id, 'no consent state for ' || e.purpose FROM consent_events e
         WHERE NOT EXISTS (SELECT 1 FROM consent_state s WHERE (s.subject_id, s.purpose) = (e.subject_id, e.purpose))
        UNION ALL
        SELECT s.event_id, 'a state names an event that is not stored' FROM consent_state s
         WHERE NOT EXISTS (SELECT 1 FROM consent_events e WHERE e.id = s.event_id)
        UNION ALL
        SELECT w.receipt_id, 'no identifier for its subject' FROM writes w
         WHERE NOT EXISTS (SELECT 1 FROM subject_identifiers i WHERE i.subject_id = w.subject_id)
        """
    )
    assert not halves, f"half-written writes: {[(str(row[0]), row[1]) for row in halves[:10]]}"


async def assert_audit_verifies(env: Mapping[str, str]) -> None:
    """`consent audit verify`, as an auditor runs it, exits 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "consent", "audit", "verify"),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, out.decode(errors="replace")
