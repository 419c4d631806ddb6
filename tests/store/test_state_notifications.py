"""Consent-state notifications: one per changing statement, naming every subject it changed; identifier
notifications only from statements that added or removed an identifier, an addition naming its blind
indexes, a removal its subjects."""

from __future__ import annotations

import os
from collections.abc import Awaitable
from datetime import UTC, datetime

from consent.ids import uuid7
from consent.store.pool import Connection, connect
from tests.helpers import eventually

# Sent after the statement under test: notifications arrive in commit order, so once this one is
# heard, every notification of the statement has been.
END = "end-of-test-statement"


async def subjects(conn: Connection, count: int) -> list[str]:
    ids = [uuid7() for _ in range(count)]
    await conn.execute("INSERT INTO subjects (id, created_at) SELECT unnest($1::uuid[]), now()", ids)
    return [str(subject_id) for subject_id in ids]


async def notified(database_url: str, statement: str, *args: object, channel: str = "consent_state") -> list[str]:
    """Payloads on `channel` from running `statement` in another session."""
    listener = await connect(database_url)
    payloads: list[str] = []
    await listener.add_listener(channel, lambda *note: payloads.append(str(note[3])))
    writer = await connect(database_url)
    try:
        await writer.execute(statement, *args)
        await writer.execute("SELECT pg_notify($1, $2)", channel, END)
        await eventually(lambda: END in payloads)
    finally:
        await writer.close()
        await listener.close()
    assert payloads[-1] == END
    return payloads[:-1]


async def test_a_statement_changing_many_subjects_names_each_once(conn: Connection, database_url: str) -> None:
    ids = await subjects(conn, 450)
    rows = [(subject_id, purpose) for subject_id in ids for purpose in ("analytics", "advertising")]

    payloads = await notified(
        database_url,
        """INSERT INTO consent_state (subject_id, purpose, status, notice_version, recorded_at, event_id)
           SELECT s, p, 'granted', 1, $3, gen_random_uuid() FROM unnest($1::uuid[], $2::text[]) AS r(s, p)""",
        [subject_id for subject_id, _ in rows],
        [purpose for _, purpose in rows],
        datetime.now(UTC),
    )

    named = [subject_id for payload in payloads for subject_id in payload.split(",")]
    assert sorted(named) == sorted(ids)
    assert all(len(payload.split(",")) <= 200 and len(payload) < 8000 for payload in payloads)


async def test_updates_deletes_and_facts_notify_too(conn: Connection, database_url: str) -> None:
    (subject_id,) = await subjects(conn, 1)
    await conn.execute(
        """INSERT INTO consent_state (subject_id, purpose, status, notice_version, recorded_at, event_id)
           VALUES ($1, 'analytics', 'granted', 1, now(), gen_random_uuid())""",
        subject_id,
    )

    assert await notified(database_url, "UPDATE consent_state SET status = 'withdrawn'") == [subject_id]
    assert await notified(database_url, "INSERT INTO subject_facts (subject_id) VALUES ($1)", subject_id) == [
        subject_id
    ]
    # The cascade deletes a state and a facts row: identical payloads in one transaction arrive once.
    assert await notified(database_url, "DELETE FROM subjects WHERE id = $1", subject_id) == [subject_id]


async def test_a_statement_changing_nothing_sends_nothing(database_url: str) -> None:
    assert await notified(database_url, "UPDATE consent_state SET status = 'withdrawn' WHERE false") == []


_ADD_IDENTIFIERS = """
INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)
SELECT 'device_id', i.blind_index, i.subject_id, '\\x00', now()
  FROM unnest($1::bytea[], $2::uuid[]) AS i(blind_index, subject_id)
"""


async def test_identifier_statements_notify_only_when_they_add_or_remove_one(
    conn: Connection, database_url: str
) -> None:
    # A recording batch or a received request creates its new subjects in one statement whose
    # identifier INSERT is empty when every subject is known: it must not notify (global lock).
    (subject_id,) = await subjects(conn, 1)
    index = uuid7().bytes

    def on_identifiers(statement: str, *args: object) -> Awaitable[list[str]]:
        return notified(database_url, statement, *args, channel="consent_identifiers")

    assert await on_identifiers(_ADD_IDENTIFIERS, [], []) == []
    assert await on_identifiers(_ADD_IDENTIFIERS, [index], [subject_id]) == [f"I:device_id:{index.hex()}"]
    assert await on_identifiers("DELETE FROM subject_identifiers WHERE blind_index = $1", b"none") == []
    assert await on_identifiers("DELETE FROM subject_identifiers WHERE blind_index = $1", index) == [f"D:{subject_id}"]


async def test_an_identifier_addition_names_each_blind_index_once(conn: Connection, database_url: str) -> None:
    # Instances forget the misses of the blind indexes named (migration 0019), not every miss.
    owners = await subjects(conn, 700)
    indexes = [os.urandom(16) for _ in owners]  # longer than any blind index: payloads are cut by length

    payloads = await notified(database_url, _ADD_IDENTIFIERS, indexes, owners, channel="consent_identifiers")

    assert all(payload.startswith("I:") and len(payload) < 8000 for payload in payloads)
    named = [tag for payload in payloads for tag in payload[2:].split(",")]
    assert sorted(named) == sorted(f"device_id:{index.hex()}" for index in indexes)
    assert len(payloads) == 5  # 700 tags of 43 bytes, about 7000 bytes per notification


async def test_an_identifier_removal_names_each_subject_once(conn: Connection, database_url: str) -> None:
    # Instances forget the matches of the subjects named (migration 0019), not every match they hold.
    ids = await subjects(conn, 450)
    owners = [subject_id for subject_id in ids for _ in range(2)]  # two identifiers each
    await conn.execute(_ADD_IDENTIFIERS, [uuid7().bytes for _ in owners], owners)

    payloads = await notified(
        database_url,
        "DELETE FROM subject_identifiers WHERE subject_id = ANY($1::uuid[])",
        ids,
        channel="consent_identifiers",
    )

    assert all(payload.startswith("D:") and len(payload) < 8000 for payload in payloads)
    named = [subject_id for payload in payloads for subject_id in payload[2:].split(",")]
    assert sorted(named) == sorted(ids)
    assert len(payloads) == 3  # 200 per notification
