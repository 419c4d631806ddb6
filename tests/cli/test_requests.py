"""`consent requests`: the compliance team's queue from the command line, through the same services."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from consent.cli import main
from consent.cli._requests import run_service
from consent.config import Settings
from consent.runtime import Runtime, running
from consent.store.requests import RequestRow
from policies import RequestType
from tests.helpers import keep_exports_waiting, trusted_filing


@pytest.fixture
def file(settings: Settings, database_url: str) -> Callable[[RequestType], RequestRow]:
    """File a trusted request through the service, as the API would: `file(RequestType.ACCESS)`."""

    async def receive(request_type: RequestType) -> RequestRow:
        async with running(settings, database_url) as runtime:
            keep_exports_waiting(runtime)
            received = await runtime.requests.receive(trusted_filing(runtime, "a@example.com", request_type))
            return received.request

    return lambda request_type: asyncio.run(receive(request_type))


Filer = Callable[[RequestType], RequestRow]


def test_list_shows_the_queue_filtered_by_state(cli: CliRunner, file: Filer) -> None:
    access = file(RequestType.ACCESS)
    erasure = file(RequestType.ERASURE)
    result = cli.invoke(main, ["requests", "list", "--state", "verified"])
    assert result.exit_code == 0, result.output
    assert str(erasure.id) in result.stdout
    assert str(access.id) not in result.stdout


def test_approve_then_show(cli: CliRunner, file: Filer) -> None:
    erasure = file(RequestType.ERASURE)
    result = cli.invoke(main, ["requests", "approve", str(erasure.id)])
    assert result.exit_code == 0, result.output
    assert "in_progress" in result.stdout
    shown = json.loads(cli.invoke(main, ["requests", "show", str(erasure.id)]).stdout)
    assert shown["request"]["approved_by"] == "cli"
    assert shown["deliveries"] == []


def test_a_command_leaves_the_jobs_it_enqueues_to_the_service_instances(
    cli: CliRunner, file: Filer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The approval enqueues the erasure's execution. A command's runtime used to run the job runner
    # too: it leased every due job at once, and cut it off when the command exited.
    erasure = file(RequestType.ERASURE)
    assert cli.invoke(main, ["requests", "approve", str(erasure.id)]).exit_code == 0
    for name, value in (cli.env or {}).items():
        monkeypatch.setenv(name, value or "")

    async def slow_command(runtime: Runtime) -> list[tuple[str, int]]:
        await asyncio.sleep(0.5)  # a runner would have leased the due job by now
        rows = await runtime.pool.fetch("SELECT state, attempts FROM jobs WHERE kind = 'request.execute'")
        return [(row["state"], row["attempts"]) for row in rows]

    assert run_service(slow_command) == [("pending", 0)]


def test_reject_needs_a_reason_and_a_second_extension_fails(cli: CliRunner, file: Filer) -> None:
    access = file(RequestType.ACCESS)
    assert cli.invoke(main, ["requests", "reject", str(access.id)]).exit_code == 2
    extended = cli.invoke(main, ["requests", "extend", str(access.id), "--reason", "three systems to search"])
    assert extended.exit_code == 0, extended.output
    again = cli.invoke(main, ["requests", "extend", str(access.id), "--reason", "still busy"])
    assert again.exit_code == 1
    assert "extended once only" in again.stderr
    rejected = cli.invoke(main, ["requests", "reject", str(access.id), "--reason", "duplicate of a letter"])
    assert "rejected" in rejected.stdout


def test_retry_refuses_a_request_that_is_not_stuck(cli: CliRunner, file: Filer) -> None:
    access = file(RequestType.ACCESS)
    result = cli.invoke(main, ["requests", "retry", str(access.id)])
    assert result.exit_code == 1
    assert "work is not parked as failed" in result.stderr


def test_report_as_csv_has_one_line_per_request(cli: CliRunner, file: Filer) -> None:
    file(RequestType.ERASURE)  # the policy has an erasure wait for approval: it stays open
    file(RequestType.OBJECT)
    today = datetime.now(UTC).date().isoformat()
    result = cli.invoke(main, ["requests", "report", "--from", today, "--to", today, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted((row["type"], row["outcome"]) for row in rows) == [("erasure", "open"), ("object", "completed")]
    assert "example.com" not in result.stdout
