"""Remembered identifier lookups: bounded; matches dropped subject by subject, misses blind index by blind
index, on every instance."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from consent.ids import uuid7
from consent.runtime import Runtime, running
from consent.service.subjects.identifiers import Identifier, Subjects
from consent.service.subjects.linking import link_device
from consent.service.subjects.memos import Memos
from consent.service.vault.personal_records import erase_subject_keys
from consent.store.pool import Connection
from tests.helpers import eventually

_SUBJECTS = [UUID(int=n) for n in range(1, 5)]
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.binary(min_size=1, max_size=1), st.sampled_from(_SUBJECTS)),
        st.tuples(st.just("drop"), st.just(b""), st.sampled_from(_SUBJECTS)),
    ),
    max_size=60,
)


@given(_operations, st.integers(min_value=1, max_value=6))
def test_matches_behave_as_a_bounded_map_dropped_by_subject(
    operations: list[tuple[str, bytes, UUID]], size: int
) -> None:
    matches = Memos[UUID](size)
    model: OrderedDict[bytes, UUID] = OrderedDict()
    for operation, memo, subject_id in operations:
        if operation == "put":
            matches.put(memo, subject_id)
            model.pop(memo, None)
            model[memo] = subject_id
            while len(model) > size:
                model.popitem(last=False)
        else:
            matches.drop([subject_id])
            model = OrderedDict((m, s) for m, s in model.items() if s != subject_id)
        assert len(matches) == len(model)
        assert all(matches.get(m) == s for m, s in model.items())
    for subject_id in _SUBJECTS:  # the per-subject index holds exactly what is left
        matches.drop([subject_id])
        model = OrderedDict((m, s) for m, s in model.items() if s != subject_id)
        assert len(matches) == len(model)


async def _new_subject(runtime: Runtime, conn: Connection, identifier: Identifier) -> UUID:
    async with conn.transaction():
        subject_id, created = await runtime.subjects.find_or_create(conn, identifier, datetime.now(UTC))
    assert created
    return subject_id


def _remembered(subjects: Subjects, identifier: Identifier) -> UUID | None:
    known, subject_id = subjects.cached(identifier)
    return subject_id if known else None


async def test_an_erasure_drops_that_subject_s_matches_on_every_instance_and_keeps_the_others(
    runtime: Runtime, conn: Connection, database_url: str
) -> None:
    erased = runtime.subjects.identifier("email", f"erased-{uuid7()}@example.com")
    kept = runtime.subjects.identifier("email", f"kept-{uuid7()}@example.com")
    erased_id, kept_id = await _new_subject(runtime, conn, erased), await _new_subject(runtime, conn, kept)
    async with running(runtime.settings, database_url) as other:
        assert await other.subjects.find(other.pool, erased) == erased_id
        assert await other.subjects.find(other.pool, kept) == kept_id

        await erase_subject_keys(conn, runtime.subjects, erased_id, actor="test")

        await eventually(lambda: _remembered(other.subjects, erased) is None)
        assert await other.subjects.find(other.pool, erased) is None
        assert _remembered(other.subjects, kept) == kept_id  # still answered without PostgreSQL
        assert _remembered(runtime.subjects, erased) is None  # and in the erasing process at once


async def test_a_linked_device_is_forgotten_for_its_old_subject_only(
    runtime: Runtime, conn: Connection, database_url: str
) -> None:
    device = runtime.subjects.identifier("device_id", f"dev-{uuid7().hex}{uuid7().hex}")
    bystander = runtime.subjects.identifier("device_id", f"dev-{uuid7().hex}{uuid7().hex}")
    user = runtime.subjects.identifier("user_id", f"user-{uuid7()}")
    device_subject = await _new_subject(runtime, conn, device)
    bystander_subject = await _new_subject(runtime, conn, bystander)
    async with running(runtime.settings, database_url) as other:
        assert await other.subjects.find(other.pool, device) == device_subject
        assert await other.subjects.find(other.pool, bystander) == bystander_subject

        linked = await link_device(
            runtime.pool,
            runtime.subjects,
            runtime.states,
            runtime.policy.current,
            device=device,
            user=user,
            actor="test",
        )

        assert linked.linked_from == device_subject
        await eventually(lambda: _remembered(other.subjects, device) != device_subject)
        assert await other.subjects.find(other.pool, device) == linked.subject_id
        assert _remembered(other.subjects, bystander) == bystander_subject


async def test_a_new_identifier_drops_its_own_miss_on_every_instance_and_keeps_the_others(
    runtime: Runtime, conn: Connection, database_url: str
) -> None:
    arriving = runtime.subjects.identifier("device_id", f"dev-{uuid7().hex}{uuid7().hex}")
    undecided = runtime.subjects.identifier("device_id", f"dev-{uuid7().hex}{uuid7().hex}")
    async with running(runtime.settings, database_url) as other:
        assert await other.subjects.find(other.pool, arriving) is None
        assert await other.subjects.find(other.pool, undecided) is None
        assert other.subjects.cached(undecided) == (True, None)  # a remembered miss

        created = await _new_subject(runtime, conn, arriving)

        await eventually(lambda: other.subjects.cached(arriving) == (False, None))
        assert await other.subjects.find(other.pool, arriving) == created
        assert other.subjects.cached(undecided) == (True, None)  # still answered without PostgreSQL
        assert runtime.subjects.cached(arriving) != (True, None)  # and in the creating process at once
