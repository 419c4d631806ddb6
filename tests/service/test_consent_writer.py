"""The consent writer: many prepared writes committed in one transaction, and what a batch promises."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest

from consent.config import load_settings
from consent.errors import NotFound
from consent.runtime import Runtime, running
from consent.service.recording import subject_settling
from consent.service.recording.prepare import Action, Choice, RecordingRequest, RecordOut, Source
from consent.store import consent_batch
from consent.store.pool import Connection
from policies import Jurisdiction


@pytest.fixture
async def patient(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime whose writer waits 200 ms for company, so that concurrent writes share one batch."""
    settings = load_settings(
        {"CONSENT_ENV": "development"},
        database_url=database_url,
        home=str(tmp_path / "home"),
        write_batch_wait_us=200_000,
    )
    async with running(settings, database_url) as runtime:
        yield runtime


@pytest.fixture
async def two_slots(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime whose writer commits two batches at once: a batch may wait on another's commit."""
    settings = load_settings(
        {"CONSENT_ENV": "development"}, database_url=database_url, home=str(tmp_path / "home"), write_concurrency=2
    )
    async with running(settings, database_url) as runtime:
        yield runtime


def by_device(runtime: Runtime, device: str, status: str = "granted") -> RecordingRequest:
    return RecordingRequest(
        identifier=runtime.subjects.identifier("device_id", device),
        property="shop",
        jurisdiction=Jurisdiction.GDPR,
        language=None,
        action=Action.API,
        choices=[Choice(purpose="analytics", status=status, notice_version=2)],
        gpc=False,
        client_at=None,
        proof={},
        actor="test",
        source=Source.API,
    )


async def a_subject(runtime: Runtime) -> UUID:
    recorded = await runtime.consents.record(runtime.policy.current, by_device(runtime, "d_existing-0000000000000"))
    assert isinstance(recorded, RecordOut)
    return recorded.subject_id


async def test_one_bad_write_in_a_batch_does_not_fail_the_others(
    patient: Runtime, conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    gone = await a_subject(patient)
    await conn.execute("DELETE FROM subjects WHERE id = $1", gone)  # erased underneath the writer
    active = patient.policy.current
    bad = msgspec.structs.replace(by_device(patient, "d_existing-0000000000000"), identifier=None, subject_id=gone)
    with caplog.at_level(logging.WARNING, logger="consent.service.recording.writer"):
        results = await asyncio.gather(
            patient.consents.record(active, by_device(patient, "d_1-00000000000000000000")),
            patient.consents.record(active, bad),
            patient.consents.record(active, by_device(patient, "d_2-00000000000000000000")),
            patient.consents.record(active, by_device(patient, "d_3-00000000000000000000")),
            return_exceptions=True,
        )
    assert "a batch of 4 consent writes failed" in caplog.text
    assert isinstance(results[1], NotFound)  # the driver's foreign-key violation never leaves the service
    good = [r for i, r in enumerate(results) if i != 1]
    assert all(isinstance(r, RecordOut) for r in good), results
    stored = {row["id"] for row in await conn.fetch("SELECT id FROM consent_events")}
    assert stored == {e for r in good if isinstance(r, RecordOut) for e in r.event_ids}
    assert await conn.fetchval("SELECT count(*) FROM consent_state") == 3


async def test_two_writes_of_one_purpose_in_a_batch_leave_the_newest_state(patient: Runtime, conn: Connection) -> None:
    active = patient.policy.current
    # Both are prepared (and timed) in the order given, and queued before the writer wakes.
    first, second = await asyncio.gather(
        patient.consents.record(active, by_device(patient, "d_1-00000000000000000000", "granted")),
        patient.consents.record(active, by_device(patient, "d_1-00000000000000000000", "denied")),
    )
    assert isinstance(first, RecordOut)
    assert isinstance(second, RecordOut)
    assert first.subject_id == second.subject_id
    assert first.recorded_at <= second.recorded_at
    transactions = await conn.fetchval("SELECT count(DISTINCT txid::text) FROM consent_events")
    assert transactions == 1, "the two writes were not committed together"
    state = await conn.fetchrow("SELECT status, event_id, recorded_at FROM consent_state WHERE purpose = 'analytics'")
    assert state is not None
    assert (state["status"], state["event_id"]) == ("denied", second.event_ids[0])
    assert state["recorded_at"] == second.recorded_at
    assert await conn.fetchval("SELECT count(*) FROM consent_events") == 2


async def test_concurrent_first_writes_for_one_device_create_one_subject(runtime: Runtime, conn: Connection) -> None:
    active = runtime.policy.current
    results = await asyncio.gather(
        *(runtime.consents.record(active, by_device(runtime, "d_new-000000000000000000")) for _ in range(5))
    )
    assert len({r.subject_id for r in results if isinstance(r, RecordOut)}) == 1
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1
    assert await conn.fetchval("SELECT count(*) FROM consent_events") == 5


async def test_a_batch_of_new_visitors_is_one_statement_without_locks(
    patient: Runtime, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    locking = []
    settle = subject_settling.settle_subjects

    async def counted(*args: Any, **kwargs: Any) -> Any:
        locking.append(args)
        return await settle(*args, **kwargs)

    monkeypatch.setattr("consent.service.recording.writer.settle_subjects", counted)
    active = patient.policy.current
    await asyncio.gather(*(patient.consents.record(active, by_device(patient, f"d_{i:0>22}")) for i in range(5)))

    assert locking == []
    assert await conn.fetchval("SELECT count(DISTINCT subject_id) FROM consent_events") == 5


async def test_a_subject_created_by_another_writer_meanwhile_is_written_to_not_duplicated(
    two_slots: Runtime, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = two_slots  # the other writer's batch commits while this one's is under way
    active = runtime.policy.current
    real = consent_batch.create_and_write_batch
    calls = 0
    left_out: list[int] = []

    async def overtaken(*args: Any, **kwargs: Any) -> set[UUID]:
        nonlocal calls
        calls += 1
        if calls == 1:  # after this batch planned a subject for the device, another batch creates it
            await runtime.consents.record(active, by_device(runtime, "d_race-00000000000000000"))
        not_created = await real(*args, **kwargs)
        left_out.append(len(not_created))
        return not_created

    monkeypatch.setattr("consent.service.recording.writer.create_and_write_batch", overtaken)
    first = await runtime.consents.record(active, by_device(runtime, "d_race-00000000000000000", "denied"))

    assert isinstance(first, RecordOut)
    # The other batch's statement, then this one's, which left the held device's write out; the
    # next batch looked the device up and wrote to the subject it found.
    assert left_out == [0, 1, 0]
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1
    events = await conn.fetch("SELECT subject_id, status FROM consent_events ORDER BY status")
    assert [tuple(event) for event in events] == [
        (first.subject_id, "denied"),
        (first.subject_id, "granted"),
    ]


async def test_a_device_another_instance_created_is_looked_up_and_nothing_of_the_planned_subject_is_left(
    runtime: Runtime, database_url: str, tmp_path: Path, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This instance does not remember the device, so its batch plans a new subject without a lookup;
    # the statement finds the identifier held and writes none of that write's rows.
    real = consent_batch.create_and_write_batch
    left_out: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> set[UUID]:
        not_created = await real(*args, **kwargs)
        left_out.append(len(not_created))
        return not_created

    monkeypatch.setattr("consent.service.recording.writer.create_and_write_batch", counted)
    settings = load_settings({"CONSENT_ENV": "development"}, database_url=database_url, home=str(tmp_path / "home"))
    first = await runtime.consents.record(runtime.policy.current, by_device(runtime, "d_elsewhere-0000000000000"))
    async with running(settings, database_url) as other:
        second = await other.consents.record(
            other.policy.current, by_device(other, "d_elsewhere-0000000000000", "denied")
        )

    assert isinstance(first, RecordOut)
    assert isinstance(second, RecordOut)
    assert second.subject_id == first.subject_id
    assert left_out == [0, 1, 0]
    assert await conn.fetchval("SELECT count(*) FROM subjects") == 1
    assert await conn.fetchval("SELECT count(*) FROM subject_keys") == 1
    assert await conn.fetchval("SELECT count(*) FROM subject_identifiers") == 1
    for table in ("consent_events", "consent_state", "subject_facts", "outbox"):
        assert await conn.fetchval(f"SELECT count(DISTINCT subject_id) FROM {table}") == 1, table
    assert await conn.fetchval("SELECT count(*) FROM consent_events") == 2
    targets = await conn.fetch("SELECT target ->> 'subject_id' FROM audit_log WHERE action = 'consent.record'")
    assert [row[0] for row in targets] == [str(first.subject_id)] * 2


async def test_a_write_held_twice_takes_the_locking_path(
    runtime: Runtime, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held, looked up, held again (another holder each time): a third statement could lose again, so
    # the write is settled under the identifier's lock instead.
    statements = 0
    locking: list[object] = []
    settle = subject_settling.settle_subjects

    async def held(conn: Connection, rows: Any, *, new: Any, seen: list[UUID]) -> set[UUID]:
        nonlocal statements
        statements += 1
        return set(new.subject_ids)  # as if another subject held every identifier: nothing written

    async def counted(*args: Any, **kwargs: Any) -> Any:
        locking.append(args)
        return await settle(*args, **kwargs)

    monkeypatch.setattr("consent.service.recording.writer.create_and_write_batch", held)
    monkeypatch.setattr("consent.service.recording.writer.settle_subjects", counted)
    recorded = await runtime.consents.record(runtime.policy.current, by_device(runtime, "d_twice-0000000000000000"))

    assert isinstance(recorded, RecordOut)
    assert (statements, len(locking)) == (2, 1)
    assert await conn.fetchval("SELECT count(*) FROM consent_events WHERE subject_id = $1", recorded.subject_id) == 1
