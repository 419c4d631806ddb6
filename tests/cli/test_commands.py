"""The CLI as an operator's script uses it: tokens alone on stdout, messages on stderr."""

from __future__ import annotations

from click.testing import CliRunner

from consent.cli import main


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for command in (
        ["--help"],
        ["serve", "--help"],
        ["migrate", "--help"],
        ["apikeys", "create", "--help"],
        ["apikeys", "list", "--help"],
        ["apikeys", "revoke", "--help"],
        ["audit", "verify", "--help"],
        ["audit", "proof", "--help"],
    ):
        result = runner.invoke(main, command)
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_create_prints_only_the_token_on_stdout(cli: CliRunner) -> None:
    result = cli.invoke(main, ["apikeys", "create", "--name", "ci", "--scope", "check"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    token = result.stdout.strip()
    assert token.startswith("sk_")
    assert len(token) > 40
    assert "shown once" in result.stderr


def test_a_collect_key_is_publishable_and_bound_to_origins(cli: CliRunner) -> None:
    result = cli.invoke(
        main, ["apikeys", "create", "--name", "banner", "--scope", "collect", "--origin", "https://Shop.example/"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("pk_")
    listing = cli.invoke(main, ["apikeys", "list"])
    assert "https://shop.example" in listing.stdout


def test_a_collect_key_without_origin_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(main, ["apikeys", "create", "--name", "banner", "--scope", "collect"])
    assert result.exit_code == 1
    assert "origins" in result.stderr
    assert result.stdout == ""


def test_list_never_shows_tokens_and_revoke_marks_the_key(cli: CliRunner) -> None:
    token = cli.invoke(main, ["apikeys", "create", "--name", "old", "--scope", "dsr"]).stdout.strip()
    listing = cli.invoke(main, ["apikeys", "list"]).stdout
    assert token not in listing
    key_id = listing.split()[0]
    revoked = cli.invoke(main, ["apikeys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.stderr
    assert "revoked" in cli.invoke(main, ["apikeys", "list"]).stdout


def test_revoking_an_unknown_key_fails_cleanly(cli: CliRunner) -> None:
    result = cli.invoke(main, ["apikeys", "revoke", "01a208d2-be14-71b6-bca1-5ae077abad7c"])
    assert result.exit_code == 1
    assert "no API key" in result.stderr


def test_migrate_is_idempotent(cli: CliRunner) -> None:
    result = cli.invoke(main, ["migrate"])
    assert result.exit_code == 0
    assert "up to date" in result.stderr


def test_a_bad_setting_stops_with_one_line_naming_it(database_url: str) -> None:
    result = CliRunner(env={"DATABASE_URL": database_url, "CONSENT_PORT": "x"}).invoke(main, ["migrate"])
    assert result.exit_code == 1
    assert "CONSENT_PORT" in result.stderr
