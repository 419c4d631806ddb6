"""The week of requests in docs/requests.md runs: every command, in order, answers as the page shows.

The page's request ids (`0193…a1`) stand for requests this test files through the API first, as
the page's backend would; the curl call is sent as written (its headers and body). Each printed
request line must match the CLI's in id, type, state and jurisdiction, and in its dates where the
request is filed with the page's date of receipt. One request cannot be: the extension is taken
within the first period, so the rectification `a1` is filed today, and its dates are today's. It
stays in progress, as on the page, because the test's recipients have no webhook secret: its
orders wait unsent.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import TestClient

from consent.cli import main
from consent.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "requests.md"
PLACEHOLDER = re.compile(r"0193…[0-9a-z]{2}")
LINE = re.compile(r"^(0193…[0-9a-z]{2})\s+(\w+)\s+(\w+)\s+(\w+)\s+due (\S+)\s+(\S+)$")
RECEIVED_TODAY = {"0193…a1"}

# What the page's backend filed before the week begins, by the id the page gives each one.
FILED: dict[str, dict[str, Any]] = {
    "0193…a1": {
        "type": "rectification",
        "subject": {"email": "k@example.com"},
        "jurisdiction": "gdpr",
        "corrections": {"name": "Kim Example"},
    },
    "0193…b7": {
        "type": "opt_out",
        "subject": {"email": "m@example.com"},
        "jurisdiction": "ccpa",
        "received_at": "2025-11-20T10:00:00-08:00",
    },
    "0193…d9": {
        "type": "erasure",
        "subject": {"email": "n@example.com"},
        "jurisdiction": "gdpr",
        "channel": "phone",
        "received_at": "2025-12-08T10:00:00+01:00",
    },
    "0193…e2": {
        "type": "opt_out",
        "subject": {"email": "o@example.com"},
        "jurisdiction": "ccpa",
        "received_at": "2025-12-08T09:00:00-08:00",
    },
}


class Command(msgspec.Struct, frozen=True):
    words: list[str]
    output: list[str]


def documented_commands() -> Iterator[Command]:
    """Each `$` command of the page's console blocks (continued over lines), with the lines it prints."""
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL):
        pending: str | None = None
        commands: list[Command] = []
        for line in block.splitlines():
            if pending is not None:
                pending += "\n" + line
            elif line.startswith("$ "):
                pending = line[2:]
            else:
                commands[-1].output.append(line)
                continue
            try:
                words = shlex.split(pending.replace("\\\n", " "), comments=True)
            except ValueError:
                continue  # a quote still open: the command goes on
            commands.append(Command(words=words, output=[]))
            pending = None
        yield from commands


@pytest.fixture
def http(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as client:
        yield client


def post(http: TestClient[Litestar], token: str, body: dict[str, Any]) -> str:
    response = http.post(
        "/v1/requests", json=body | {"verification": "trusted"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    request_id: str = response.json()["id"]
    return request_id


def grant_analytics(http: TestClient[Litestar], token: str, subject: dict[str, str]) -> None:
    body = {
        "subject": subject,
        "property": "shop",
        "jurisdiction": "gdpr",
        "action": "save_choices",
        "decisions": [{"purpose": "analytics", "status": "granted", "notice_version": 2}],
    }
    response = http.post("/v1/consents", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text


def curl(http: TestClient[Litestar], words: list[str], token: str) -> str:
    """Send the documented curl call as written; the new request's id."""
    headers, body = {}, None
    for option, value in itertools.pairwise(words):
        if option == "-H":
            name, _, text = value.partition(": ")
            headers[name] = text.replace("$DSR", token)
        elif option == "-d":
            body = value.encode()
    url = next(word for word in words if word.startswith("http://"))
    response = http.post(url.removeprefix("http://127.0.0.1:8000"), content=body, headers=headers)
    assert response.status_code == 201, response.text
    request_id: str = response.json()["id"]
    return request_id


def expected_lines(output: list[str], ids: dict[str, str]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for line in output:
        matched = LINE.match(line)
        if matched is None:
            continue
        placeholder, kind, state, jurisdiction, due, received = matched.groups()
        dated = placeholder not in RECEIVED_TODAY
        found.append((ids[placeholder], kind, state, jurisdiction, due if dated else "", received if dated else ""))
    return found


def printed_lines(output: str, ids: dict[str, str]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for line in output.splitlines():
        words = line.split()
        if len(words) == 7 and words[0] in ids.values():
            dated = words[0] not in {ids[p] for p in RECEIVED_TODAY}
            found.append((*words[:4], words[5] if dated else "", words[6] if dated else ""))
    return found


def test_the_week_of_requests_runs_as_documented(
    database_url: str, settings: Settings, http: TestClient[Litestar]
) -> None:
    # The operator's shell, on the service's database and development key files.
    cli = CliRunner(
        env={"DATABASE_URL": database_url, "CONSENT_HOME": str(settings.home), "CONSENT_ENV": "development"}
    )
    created = cli.invoke(main, ["apikeys", "create", "--name", "backend", "--scope", "dsr"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    ids: dict[str, str] = {}
    commands = list(documented_commands())
    assert commands, "the page shows no commands"
    for command in commands:
        if command.words[0] == "curl":
            ids["0193…c3"] = curl(http, command.words, token)
            continue
        # Each request is filed just before the page first shows it, so earlier lists do not show it.
        for placeholder in sorted(set(PLACEHOLDER.findall(" ".join(command.words + command.output))) - ids.keys()):
            if placeholder == "0193…a1":
                grant_analytics(http, token, FILED[placeholder]["subject"])  # so the rectification has a recipient
            ids[placeholder] = post(http, token, FILED[placeholder])
            if placeholder == "0193…e2":
                # The opt-out whose recording failed: verified, not completed, as a crash in between leaves it.
                asyncio.run(_leave_verified(database_url, ids[placeholder]))
        assert command.words[0] == "consent", command.words
        args = [PLACEHOLDER.sub(lambda m: ids[m.group(0)], word) for word in command.words[1:]]
        args = args[: args.index(">")] if ">" in args else args
        result = cli.invoke(main, args)
        failed = any(line.startswith("Error: ") for line in command.output)
        assert result.exit_code == (1 if failed else 0), (args, result.output)
        assert printed_lines(result.output, ids) == expected_lines(command.output, ids), (args, result.output)
        for line in command.output:
            if not LINE.match(line):
                assert PLACEHOLDER.sub(lambda m: ids[m.group(0)], line) in result.output, (args, result.output)


async def _leave_verified(database_url: str, request_id: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE requests SET state = 'verified', completed_at = NULL WHERE id = $1::uuid", request_id
        )
    finally:
        await conn.close()
