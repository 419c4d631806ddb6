"""`consent audit verify` and `consent audit proof` as an operator and an auditor use them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.service.audit_sealing import Sealer
from consent.store.pool import connect
from crypto import generate_signing_key_entry, jwks, parse_signing_keys

AUDIT_KEYS = generate_signing_key_entry("audit-cli")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> CliRunner:
    return CliRunner(
        env={
            "DATABASE_URL": database_url,
            "CONSENT_HOME": str(tmp_path / "home"),
            "CONSENT_ENV": "development",
            "CONSENT_AUDIT_KEYS": AUDIT_KEYS,
        }
    )


def seal(database_url: str) -> None:
    """What the service's sealer does in the background."""

    async def work() -> None:
        conn = await connect(database_url)
        try:
            sealer = Sealer(parse_signing_keys(AUDIT_KEYS))
            for _ in range(3):  # a fresh sealer may need a round to see its horizon pass
                await sealer.seal(conn)
        finally:
            await conn.close()

    asyncio.run(work())


def tamper(url: str, *statements: str) -> None:
    async def work() -> None:
        conn = await connect(url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for sql in statements:
                    await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(work())


def audited(cli: CliRunner, database_url: str, keys: int) -> None:
    for n in range(keys):
        assert cli.invoke(main, ["apikeys", "create", "--name", f"k{n}", "--scope", "check"]).exit_code == 0
    seal(database_url)


def head_of(cli: CliRunner) -> str:
    report = json.loads(cli.invoke(main, ["audit", "verify", "--json"]).stdout)
    assert report["ok"]
    return str(report["head_hash"])


def test_verify_reports_an_intact_trail_and_its_head(cli: CliRunner, database_url: str) -> None:
    audited(cli, database_url, 2)
    result = cli.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 2 entries in 1 signed checkpoints, 0 pending, head checkpoint 1 " in result.stdout


def test_verify_against_a_saved_key_set_needs_no_private_key(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    audited(cli, database_url, 1)
    published = tmp_path / "audit-keys.json"
    published.write_text(json.dumps(jwks(parse_signing_keys(AUDIT_KEYS))))
    other = CliRunner(env={"DATABASE_URL": database_url, "CONSENT_HOME": str(tmp_path / "elsewhere")})
    assert other.invoke(main, ["audit", "verify", "--keys", str(published)]).exit_code == 0
    published.write_text(json.dumps(jwks(parse_signing_keys(generate_signing_key_entry("audit-cli")))))
    assert other.invoke(main, ["audit", "verify", "--keys", str(published)]).exit_code == 1


def test_verify_finds_truncation_only_with_the_expected_head(cli: CliRunner, database_url: str, owner_url: str) -> None:
    audited(cli, database_url, 1)
    first = head_of(cli)
    audited(cli, database_url, 1)
    kept = head_of(cli)
    tamper(
        owner_url,
        "DELETE FROM audit_log WHERE position > (SELECT last_position FROM audit_checkpoints WHERE seq = 1)",
        "DELETE FROM audit_checkpoints WHERE seq = 2",
    )
    assert cli.invoke(main, ["audit", "verify", "--expect-head", first]).exit_code == 0
    result = cli.invoke(main, ["audit", "verify", "--expect-head", kept])
    assert result.exit_code == 1
    assert "BROKEN" in result.stdout
    assert "truncated" in result.stdout


def test_verify_exits_1_on_a_deleted_entry(cli: CliRunner, database_url: str, owner_url: str) -> None:
    audited(cli, database_url, 2)
    tamper(owner_url, "DELETE FROM audit_log WHERE position = (SELECT min(position) FROM audit_log)")
    result = cli.invoke(main, ["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["broken_at"] == 1


def test_verify_never_seals(cli: CliRunner, database_url: str) -> None:
    assert cli.invoke(main, ["apikeys", "create", "--name", "k", "--scope", "check"]).exit_code == 0
    report = json.loads(cli.invoke(main, ["audit", "verify", "--json"]).stdout)
    assert (report["ok"], report["sealed"], report["pending"]) == (True, 0, 1)
    assert json.loads(cli.invoke(main, ["audit", "verify", "--json"]).stdout)["pending"] == 1


def test_a_malformed_expected_head_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(main, ["audit", "verify", "--expect-head", "not-a-hash"])
    assert result.exit_code == 1
    assert "--expect-head" in result.stderr


def test_proof_prints_json_for_a_sealed_entry_and_fails_cleanly_otherwise(cli: CliRunner, database_url: str) -> None:
    audited(cli, database_url, 3)
    entry_id = _an_entry(database_url)
    result = cli.invoke(main, ["audit", "proof", entry_id])
    assert result.exit_code == 0, result.stderr
    proof = json.loads(result.stdout)
    assert set(proof) == {"entry", "leaf_index", "tree_size", "path", "checkpoint", "checkpoint_hash"}
    assert json.loads(proof["entry"])["id"] == entry_id
    unknown = cli.invoke(main, ["audit", "proof", "01a208d2-be14-71b6-bca1-5ae077abad7c"])
    assert unknown.exit_code == 1
    assert "no audit entry" in unknown.stderr


def _an_entry(database_url: str) -> str:
    async def work() -> str:
        conn = await connect(database_url)
        try:
            return str(await conn.fetchval("SELECT id FROM audit_log ORDER BY position LIMIT 1"))
        finally:
            await conn.close()

    return asyncio.run(work())
