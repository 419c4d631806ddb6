"""Policy versions in the service: applied whole, audited, one active, picked up by every instance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from consent.runtime import Runtime
from consent.service.policy_versions import (
    apply_policy,
    bundled_policy,
    ensure_policy,
    fetch_active_policy,
    read_policy_file,
)
from consent.store.pool import Connection, connect
from policies import PolicyInvalid
from tests.helpers import eventually
from tests.policies.samples import MINIMAL_POLICY

SHOP, SHOP_SOURCE = bundled_policy()


def raised_analytics_notice(text: str) -> str:
    """The shop policy with the analytics notice at version 3, and grants under older notices void."""
    changed = text.replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2 only clarified the wording",
        "notice_version = 3\nmin_notice_version = 3",
    )
    assert changed != text
    return changed


async def audit_actions(conn: Connection, action: str) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT actor, target, detail FROM audit_log WHERE action = $1 ORDER BY recorded_at", action
    )
    return [dict(row) for row in rows]


async def test_the_first_policy_becomes_version_1_and_is_audited(conn: Connection) -> None:
    applied = await apply_policy(conn, SHOP, source=SHOP_SOURCE, actor="cli")
    assert (applied.version, applied.changed, applied.diff) == (1, True, None)
    active = await fetch_active_policy(conn)
    assert active is not None
    assert (active.version, active.source) == (1, SHOP_SOURCE)
    assert "partner_sharing" in active.policy.purposes
    entries = await audit_actions(conn, "policy.apply")
    assert entries == [
        {
            "actor": "cli",
            "target": {"policy_version": 1},
            "detail": {"digest": active.digest, "source": SHOP_SOURCE},
        }
    ]


async def test_applying_the_active_policy_again_changes_nothing(conn: Connection) -> None:
    await apply_policy(conn, SHOP, source=SHOP_SOURCE, actor="cli")
    again = await apply_policy(conn, SHOP, source="copy-of-shop.toml", actor="cli")
    assert (again.version, again.changed) == (1, False)
    assert await conn.fetchval("SELECT count(*) FROM policy_versions") == 1
    assert len(await audit_actions(conn, "policy.apply")) == 1


async def test_a_changed_policy_is_a_new_active_version_with_its_diff(conn: Connection) -> None:
    await apply_policy(conn, SHOP, source=SHOP_SOURCE, actor="cli")
    applied = await apply_policy(conn, raised_analytics_notice(SHOP), source="shop-v2.toml", actor="key:abc")
    assert (applied.version, applied.changed) == (2, True)
    assert applied.diff is not None
    assert [(c.purpose_id, c.old_version, c.new_version) for c in applied.diff.notices_reversioned] == [
        ("analytics", 2, 3)
    ]
    assert [r.purpose_id for r in applied.diff.reconsent_required] == ["analytics"]
    rows = await conn.fetch("SELECT version, active, applied_by FROM policy_versions ORDER BY version")
    assert [tuple(r) for r in rows] == [(1, False, "cli"), (2, True, "key:abc")]
    latest = (await audit_actions(conn, "policy.apply"))[-1]
    assert latest["actor"] == "key:abc"
    assert latest["detail"]["previous_version"] == 1  # type: ignore[index]


async def test_an_invalid_policy_stores_nothing(conn: Connection) -> None:
    await apply_policy(conn, SHOP, source=SHOP_SOURCE, actor="cli")
    broken = SHOP.replace('legal_basis = "consent"', 'legal_basis = "vibes"')
    with pytest.raises(PolicyInvalid) as raised:
        await apply_policy(conn, broken, source="broken.toml", actor="cli")
    assert len(raised.value.problems) == 5  # one per consent purpose: every problem is reported
    assert all(p.source == "broken.toml" for p in raised.value.problems)
    assert await conn.fetchval("SELECT max(version) FROM policy_versions") == 1
    assert len(await audit_actions(conn, "policy.apply")) == 1


async def test_concurrent_applies_get_dense_versions_and_one_active(database_url: str, conn: Connection) -> None:
    await apply_policy(conn, SHOP, source=SHOP_SOURCE, actor="cli")
    others = [await connect(database_url) for _ in range(2)]
    try:
        results = await asyncio.gather(
            apply_policy(others[0], raised_analytics_notice(SHOP), source="a.toml", actor="a"),
            apply_policy(others[1], MINIMAL_POLICY, source="b.toml", actor="b"),
        )
    finally:
        for other in others:
            await other.close()
    assert sorted(r.version for r in results) == [2, 3]
    assert await conn.fetchval("SELECT count(*) FROM policy_versions WHERE active") == 1
    assert await conn.fetchval("SELECT version FROM policy_versions WHERE active") == 3


async def test_a_fresh_database_gets_the_bundled_policy_once(conn: Connection) -> None:
    first = await ensure_policy(conn, policy_file=None)
    second = await ensure_policy(conn, policy_file=None)
    assert (first.version, first.source) == (1, SHOP_SOURCE)
    assert second.version == 1
    assert await conn.fetchval("SELECT count(*) FROM policy_versions") == 1


async def test_a_fresh_database_gets_the_configured_policy_file(conn: Connection, tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(MINIMAL_POLICY, encoding="utf-8")
    active = await ensure_policy(conn, policy_file=path)
    assert active.source == "minimal.toml"
    assert list(active.policy.purposes) == ["analytics"]


@pytest.mark.parametrize(("content", "problem"), [(b"\xff\xfe[controller]", "not UTF-8"), (None, "cannot be read")])
def test_an_unreadable_policy_file_is_an_invalid_policy(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "policy.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PolicyInvalid) as raised:
        read_policy_file(path)
    [found] = raised.value.problems
    assert found.source == "policy.toml"
    assert problem in found.message


async def test_every_instance_switches_to_an_applied_policy(runtime: Runtime, conn: Connection) -> None:
    assert runtime.policy.current.version == 1
    await apply_policy(conn, raised_analytics_notice(SHOP), source="shop-v2.toml", actor="cli")
    await eventually(lambda: runtime.policy.current.version == 2)
    assert runtime.policy.current.policy.purposes["analytics"].notice_version == 3


async def test_a_reload_after_a_lost_notification_catches_up(
    runtime: Runtime, conn: Connection, owner_conn: Connection
) -> None:
    # Applied while this instance hears nothing (as if its listener were down): the reset reloads.
    await owner_conn.execute("ALTER TABLE policy_versions DISABLE TRIGGER policy_versions_notify")
    await apply_policy(conn, raised_analytics_notice(SHOP), source="shop-v2.toml", actor="cli")
    assert runtime.policy.current.version == 1
    runtime.policy.schedule_reload()
    await eventually(lambda: runtime.policy.current.version == 2)
