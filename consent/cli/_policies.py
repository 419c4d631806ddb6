"""`consent policies validate|diff|apply|ropa|versions`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from consent.cli._context import CLI_ACTOR, fail, load, run_with_connection, say
from consent.service.policy_versions import (
    AppliedPolicy,
    count_reconsent,
    fetch_active_policy,
    list_policy_versions,
    read_policy_file,
)
from consent.service.policy_versions import apply_policy as apply_policy_version
from consent.store.pool import Connection
from policies import Policy, PolicyDiff, PolicyInvalid, diff_policies, parse_policy, render_ropa_csv, render_ropa_json

__all__ = ["policies"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _parse_or_fail(path: Path) -> tuple[str, str, Policy]:
    try:
        text, source = read_policy_file(path)
        return text, source, parse_policy(text, source=source)
    except PolicyInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        fail(f"{path.name} is not a valid policy: {len(exc.problems)} problem(s)")


@click.group()
def policies() -> None:
    """Validate, compare and apply policy files (the purpose catalogue and its rules)."""


@policies.command()
@click.argument("file", type=_FILE)
def validate(file: Path) -> None:
    """Check FILE; every problem is listed as FILE: KEY.PATH: message. Exit 1 if any."""
    _, source, policy = _parse_or_fail(file)
    click.echo(
        f"{source} is valid: {len(policy.purposes)} purposes, {len(policy.jurisdictions)} jurisdictions, "
        f"{len(policy.recipients)} recipients"
    )


def _describe(diff: PolicyDiff, counts: dict[str, int]) -> list[str]:
    lines = [f"+ purpose {p}" for p in diff.purposes_added]
    lines += [f"- purpose {p}" for p in diff.purposes_removed]
    lines += [f"~ notice {c.purpose_id}: version {c.old_version} -> {c.new_version}" for c in diff.notices_reversioned]
    lines += [f"~ purpose {c.purpose_id}: {', '.join(c.fields)}" for c in diff.purposes_changed]
    lines += [f"~ jurisdiction {j.value}" for j in diff.jurisdictions_changed]
    lines += [f"~ recipient {r}" for r in diff.recipients_changed]
    lines += [f"~ retention {r}" for r in diff.retention_changed]
    if diff.controller_changed:
        lines.append("~ controller")
    lines += [
        f"! re-consent {r.purpose_id}: min_notice_version {r.old_min_notice_version} -> {r.min_notice_version}; "
        f"{counts.get(r.purpose_id, 0)} subject(s) must be asked again"
        for r in diff.reconsent_required
    ]
    return lines


@policies.command()
@click.argument("file", type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON.")
def diff(file: Path, as_json: bool) -> None:
    """What applying FILE would change against the active policy, and who must re-consent."""
    _, source, new = _parse_or_fail(file)

    async def work(conn: Connection) -> tuple[int, PolicyDiff, dict[str, int]] | None:
        active = await fetch_active_policy(conn)
        if active is None:
            return None
        changes = diff_policies(active.policy, new)
        counts = {
            r.purpose_id: await count_reconsent(conn, r.purpose_id, r.min_notice_version)
            for r in changes.reconsent_required
        }
        return active.version, changes, counts

    found = run_with_connection(load(), work)
    if found is None:
        if as_json:
            click.echo(msgspec.json.encode({"active_version": None, "diff": None, "reconsent_subjects": {}}).decode())
        else:
            say(f"no policy has been applied yet: applying {source} would make it version 1")
        return
    version, changes, counts = found
    if as_json:
        document = {"active_version": version, "diff": changes, "reconsent_subjects": counts}
        click.echo(msgspec.json.encode(document).decode())
        return
    lines = _describe(changes, counts)
    say(f"against active policy version {version}:")
    click.echo("\n".join(lines) if lines else "no difference")


@policies.command()
@click.argument("file", type=_FILE)
def apply(file: Path) -> None:
    """Make FILE the active policy as a new version (audited); running instances switch at once."""
    text, source, _ = _parse_or_fail(file)

    async def work(conn: Connection) -> AppliedPolicy:
        return await apply_policy_version(conn, text, source=source, actor=CLI_ACTOR)

    applied = run_with_connection(load(), work)
    if applied.changed:
        click.echo(f"policy version {applied.version} is active")
    else:
        click.echo(f"{source} is already the active policy (version {applied.version}); nothing applied")


@policies.command()
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--file", "file", type=_FILE, help="A policy file instead of the active policy.")
def ropa(fmt: str, file: Path | None) -> None:
    """The GDPR Art. 30 record of processing activities, generated from the policy."""
    if file is not None:
        policy = _parse_or_fail(file)[2]
    else:

        async def work(conn: Connection) -> Policy | None:
            active = await fetch_active_policy(conn)
            return active.policy if active else None

        found = run_with_connection(load(), work)
        if found is None:
            fail("no policy has been applied yet: consent policies apply FILE")
        policy = found
    if fmt == "json":
        sys.stdout.buffer.write(render_ropa_json(policy) + b"\n")
    else:
        click.echo(render_ropa_csv(policy), nl=False)


@policies.command()
def versions() -> None:
    """Every applied policy version: number, time, who applied it, digest; * marks the active one."""
    for row in run_with_connection(load(), list_policy_versions):
        mark = "*" if row.active else " "
        click.echo(
            f"{mark} {row.version:>4}  {row.applied_at:%Y-%m-%d %H:%M:%S}  {row.applied_by:<40}  "
            f"{row.digest[:16]}  {row.source}"
        )
