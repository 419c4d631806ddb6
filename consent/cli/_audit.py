"""`consent audit verify`."""

from __future__ import annotations

import click
import msgspec

from consent.cli._context import load, run_with_connection
from consent.service.audit import ChainReport, seal_pending, verify_chain
from consent.store.pool import Connection

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Inspect the hash-chained audit trail."""


@audit.command("verify")
@click.option("--seal/--no-seal", default=True, help="Seal committed entries first, so fewer are pending.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(seal: bool, as_json: bool) -> None:
    """Walk the chain and report the first broken link; exit 1 if there is one."""

    async def work(conn: Connection) -> ChainReport:
        if seal:
            while await seal_pending(conn):
                pass
        return await verify_chain(conn)

    report = run_with_connection(load(), work)
    if as_json:
        click.echo(msgspec.json.encode(report).decode())
    elif report.ok:
        click.echo(
            f"audit chain intact: {report.sealed} sealed entries, {report.pending} pending"
            + (f", head {report.head_seq} {report.head_hash}" if report.head_seq else "")
        )
    else:
        click.echo(
            f"audit chain BROKEN at entry {report.broken_at} ({report.entry_id or 'tail'}): {report.problem}; "
            f"{report.sealed} entries before it verify"
        )
    raise SystemExit(0 if report.ok else 1)
