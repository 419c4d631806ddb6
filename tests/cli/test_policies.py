"""`consent policies validate|diff|apply|ropa|versions`, as a compliance team runs them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.ids import uuid7
from consent.service.policy_versions import bundled_policy
from consent.store.pool import connect

SHOP, _ = bundled_policy()
SHOP_PURPOSES = [
    "strictly_necessary",
    "tax_records",
    "fraud_prevention",
    "analytics",
    "personalisation",
    "marketing_email",
    "advertising",
    "partner_sharing",
]
LOYALTY = """
[purposes.loyalty_programme]
legal_basis = "contract"
category = "functional"
data_categories = ["account", "order"]
subject_categories = ["customers"]
notice_version = 1
min_notice_version = 1

[purposes.loyalty_programme.text.en]
title = "Loyalty programme"
text = "Collects points on your orders."

[purposes.loyalty_programme.text.ja]
title = "ポイントプログラム"
text = "ご注文ごとにポイントを貯めます。"
"""


def shop_v2() -> str:
    """The shop policy with a new purpose, without tax records, and analytics re-consent required."""
    start = SHOP.index("[purposes.tax_records]")
    end = SHOP.index("[purposes.fraud_prevention]")
    text = SHOP[:start] + SHOP[end:]
    text = text.replace(
        "notice_version = 2\nmin_notice_version = 1                       # version 2 only clarified the wording",
        "notice_version = 3\nmin_notice_version = 3",
    )
    marker = "# Jurisdictions."
    return text.replace(marker, LOYALTY + "\n# " + marker, 1)


@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP, encoding="utf-8")
    return path


@pytest.fixture
def v2_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop-v2.toml"
    path.write_text(shop_v2(), encoding="utf-8")
    return path


def grant(database_url: str, rows: list[tuple[str, str, int]]) -> None:
    """One subject per (purpose, status, notice_version) row, with that consent state."""

    async def insert() -> None:
        conn = await connect(database_url)
        now = datetime.now(UTC)
        try:
            for purpose, status, notice_version in rows:
                subject_id = uuid7()
                await conn.execute("INSERT INTO subjects (id, created_at) VALUES ($1, $2)", subject_id, now)
                await conn.execute(
                    "INSERT INTO consent_state (subject_id, purpose, status, notice_version, recorded_at, event_id)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    subject_id,
                    purpose,
                    status,
                    notice_version,
                    now,
                    uuid7(),
                )
        finally:
            await conn.close()

    asyncio.run(insert())


def policy_audit(database_url: str) -> list[tuple[str, int]]:
    async def fetch() -> list[tuple[str, int]]:
        conn = await connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT actor, target FROM audit_log WHERE action = 'policy.apply' ORDER BY position"
            )
        finally:
            await conn.close()
        return [(row["actor"], row["target"]["policy_version"]) for row in rows]

    return asyncio.run(fetch())


def test_every_policies_command_has_help() -> None:
    runner = CliRunner()
    for command in ("validate", "diff", "apply", "ropa", "versions"):
        result = runner.invoke(main, ["policies", command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_validate_accepts_the_shop_policy(shop_file: Path) -> None:
    result = CliRunner().invoke(main, ["policies", "validate", str(shop_file)])
    assert result.exit_code == 0, result.stderr
    assert "shop.toml is valid: 8 purposes, 6 jurisdictions, 4 recipients" in result.stdout


def test_validate_lists_every_problem_of_an_invalid_file(tmp_path: Path) -> None:
    broken = SHOP.replace('legal_basis = "consent"', 'legal_basis = "vibes"', 1)
    broken = broken.replace("consent_lifetime_days = 365\ntcf", "consent_lifetime_days = -1\ntcf", 1)
    broken = broken.replace("[jurisdictions.lgpd]", "[jurisdictions.lgpd_typo]", 1)
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(main, ["policies", "validate", str(path)])
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("broken.toml: ")]
    assert any(line.startswith("broken.toml: purposes.analytics.legal_basis: ") for line in problems)
    assert any(line.startswith("broken.toml: purposes.personalisation.consent_lifetime_days: ") for line in problems)
    assert any(line.startswith("broken.toml: jurisdictions.lgpd") for line in problems)
    assert f"not a valid policy: {len(problems)} problem(s)" in result.stderr
    assert len(problems) >= 3
    assert result.stdout == ""


def test_validate_refuses_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00[controller]")
    result = CliRunner().invoke(main, ["policies", "validate", str(path)])
    assert result.exit_code == 1
    assert "binary.toml: is not UTF-8 text" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_diff_before_any_policy_says_so(cli: CliRunner, shop_file: Path) -> None:
    result = cli.invoke(main, ["policies", "diff", str(shop_file)])
    assert result.exit_code == 0, result.stderr
    assert "no policy has been applied yet" in result.stderr


def test_diff_shows_changes_and_who_must_re_consent(
    cli: CliRunner, database_url: str, shop_file: Path, v2_file: Path
) -> None:
    assert cli.invoke(main, ["policies", "apply", str(shop_file)]).exit_code == 0
    grant(
        database_url,
        [
            ("analytics", "granted", 1),
            ("analytics", "granted", 2),
            ("analytics", "granted", 2),
            ("analytics", "denied", 2),  # nothing to re-ask: no grant
            ("analytics", "withdrawn", 1),
            ("personalisation", "granted", 1),  # its notice did not change
        ],
    )
    result = cli.invoke(main, ["policies", "diff", str(v2_file)])
    assert result.exit_code == 0, result.stderr
    assert "against active policy version 1" in result.stderr
    lines = result.stdout.splitlines()
    assert "+ purpose loyalty_programme" in lines
    assert "- purpose tax_records" in lines
    assert "~ notice analytics: version 2 -> 3" in lines
    assert "! re-consent analytics: min_notice_version 1 -> 3; 3 subject(s) must be asked again" in lines
    assert not any("personalisation" in line for line in lines)

    as_json = cli.invoke(main, ["policies", "diff", "--json", str(v2_file)])
    document = json.loads(as_json.stdout)
    assert document["active_version"] == 1
    assert document["reconsent_subjects"] == {"analytics": 3}
    assert document["diff"]["purposes_added"] == ["loyalty_programme"]
    assert document["diff"]["purposes_removed"] == ["tax_records"]


def test_diff_of_the_active_policy_shows_no_difference(cli: CliRunner, shop_file: Path) -> None:
    cli.invoke(main, ["policies", "apply", str(shop_file)])
    result = cli.invoke(main, ["policies", "diff", str(shop_file)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "no difference"


def test_apply_records_an_audited_version_and_again_is_a_no_op(
    cli: CliRunner, database_url: str, shop_file: Path, v2_file: Path
) -> None:
    first = cli.invoke(main, ["policies", "apply", str(shop_file)])
    assert first.exit_code == 0, first.stderr
    assert first.stdout.strip() == "policy version 1 is active"
    second = cli.invoke(main, ["policies", "apply", str(v2_file)])
    assert second.stdout.strip() == "policy version 2 is active"
    again = cli.invoke(main, ["policies", "apply", str(v2_file)])
    assert again.exit_code == 0, again.stderr
    assert "already the active policy (version 2); nothing applied" in again.stdout
    assert policy_audit(database_url) == [("cli", 1), ("cli", 2)]

    versions = cli.invoke(main, ["policies", "versions"]).stdout.splitlines()
    assert len(versions) == 2
    assert versions[0].startswith("     1 ")
    assert versions[0].rstrip().endswith("shop.toml")
    assert versions[1].startswith("*    2 ")
    assert versions[1].rstrip().endswith("shop-v2.toml")


def test_apply_of_an_invalid_file_changes_nothing(cli: CliRunner, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(SHOP.replace('category = "analytics"', 'category = "astrology"'), encoding="utf-8")
    result = cli.invoke(main, ["policies", "apply", str(path)])
    assert result.exit_code == 1
    assert "purposes.analytics.category" in result.stderr
    assert policy_audit(database_url) == []
    assert cli.invoke(main, ["policies", "versions"]).stdout == ""


def test_ropa_json_has_every_purpose_of_the_active_policy(cli: CliRunner, shop_file: Path) -> None:
    cli.invoke(main, ["policies", "apply", str(shop_file)])
    result = cli.invoke(main, ["policies", "ropa", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [record["purpose_id"] for record in document["records"]] == SHOP_PURPOSES
    assert document["controller"]["name"] == "Example Shop K.K."
    partner = next(r for r in document["records"] if r["purpose_id"] == "partner_sharing")
    assert partner["recipient_countries"] == ["US"]


def test_ropa_csv_has_one_row_per_purpose(cli: CliRunner, shop_file: Path, v2_file: Path) -> None:
    cli.invoke(main, ["policies", "apply", str(shop_file)])
    cli.invoke(main, ["policies", "apply", str(v2_file)])
    result = cli.invoke(main, ["policies", "ropa", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = [p for p in SHOP_PURPOSES if p != "tax_records"]
    assert sorted(row["purpose_id"] for row in rows) == sorted([*expected, "loyalty_programme"])
    assert all(row["legal_basis"] and row["retention"] for row in rows)


def test_ropa_of_a_file_needs_no_database(shop_file: Path) -> None:
    result = CliRunner().invoke(main, ["policies", "ropa", "--format", "csv", "--file", str(shop_file)])
    assert result.exit_code == 0, result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == len(SHOP_PURPOSES)


def test_ropa_before_any_policy_fails_cleanly(cli: CliRunner) -> None:
    result = cli.invoke(main, ["policies", "ropa"])
    assert result.exit_code == 1
    assert "no policy has been applied yet" in result.stderr
