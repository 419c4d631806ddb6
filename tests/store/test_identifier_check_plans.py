"""The identifier checks of every write probe subject_identifiers' indexes; none reads the table.

`claim_identifiers`, `claim_or_report_identifiers` and `refuse_linked_subjects` run in every
recording batch and every received request. Under load their generic plans read the whole table on
each call (an EXISTS planned to stop at a first row that never comes): 856 scans of 40,000 rows in
5 seconds, and the cost grew with every visitor. Migration 0022 makes each check a nested loop of
index probes; a session that has settled on generic plans, as the service's long-lived connections
do, must still scan nothing.
"""

from __future__ import annotations

from uuid import UUID

from consent.ids import uuid7
from consent.store.pool import Connection

_VISITORS = """
WITH s AS (
    INSERT INTO subjects (id, created_at)
    SELECT gen_random_uuid(), now() FROM generate_series(1, 3000)
    RETURNING id
)
INSERT INTO subject_identifiers (kind, blind_index, subject_id, ciphertext, created_at)
SELECT 'device_id', uuid_send(id), id, '\\x00', now() FROM s
"""

_SCANS = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'subject_identifiers'"


async def test_identifier_checks_probe_indexes_and_never_scan_the_table(owner_conn: Connection) -> None:
    await owner_conn.execute(_VISITORS)
    known: list[UUID] = [
        row["subject_id"] for row in await owner_conn.fetch("SELECT subject_id FROM subject_identifiers LIMIT 20")
    ]
    new = [uuid7() for _ in range(20)]
    kinds = ["device_id"] * len(new)
    indexes = [subject.bytes for subject in new]
    await owner_conn.execute("SET plan_cache_mode = force_generic_plan")
    async with owner_conn.transaction():  # no pending statistics are reported inside one
        before = await owner_conn.fetchval(_SCANS)
        for _ in range(8):  # past the five custom plans PL/pgSQL tries before settling
            assert await owner_conn.fetchval("SELECT claim_identifiers($1, $2, $3)", kinds, indexes, new)
            assert (
                await owner_conn.fetch("SELECT * FROM claim_or_report_identifiers($1, $2, $3)", kinds, indexes, new)
                == []
            )
            assert await owner_conn.fetchval("SELECT refuse_linked_subjects($1)", known + new)
        assert await owner_conn.fetchval(_SCANS) == before
