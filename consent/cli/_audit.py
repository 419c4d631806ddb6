"""`consent audit verify` and `consent audit proof`."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import click
import msgspec

from consent.cli._context import fail, load, run_with_connection
from consent.config import ConfigError
from consent.errors import ConsentError
from consent.key_material import load_key_material
from consent.service.audit_verification import InclusionProof, TrailReport, prove_entry, verify_trail
from consent.store.pool import Connection
from crypto import KeyMaterialError, PublicKeySet, public_keys_from_jwks

__all__ = ["audit"]

_HASH = re.compile(r"[0-9a-f]{64}")


@click.group()
def audit() -> None:
    """Inspect the signed audit trail."""


def _audit_keys(keys_file: Path | None) -> PublicKeySet:
    """The audit public keys: a JWKS file (e.g. a saved /.well-known/audit-keys.json), or the configured ring."""
    try:
        if keys_file is not None:
            return public_keys_from_jwks(keys_file.read_bytes())
        return load_key_material(load()).audit_keys.public_keys
    except (OSError, KeyMaterialError, ConfigError) as exc:
        fail(f"audit keys: {exc}")


def _describe(report: TrailReport) -> str:
    if report.ok:
        head = f", head checkpoint {report.head_seq} {report.head_hash}" if report.head_seq else ""
        return (
            f"audit trail intact: {report.sealed} entries in {report.checkpoints} signed checkpoints, "
            f"{report.pending} pending{head}"
        )
    where = f"checkpoint {report.broken_at}" if report.broken_at else "the trail"
    entry = f" (entry {report.entry_id})" if report.entry_id else ""
    return (
        f"audit trail BROKEN at {where}{entry}: {report.problem}; "
        f"{report.checkpoints} checkpoints ({report.sealed} entries) before it verify"
    )


@audit.command("verify")
@click.option("--expect-head", metavar="HASH", help="A checkpoint hash kept elsewhere: fail if the trail lacks it.")
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JWKS file of the audit public keys (default: the configured CONSENT_AUDIT_KEYS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(expect_head: str | None, keys_file: Path | None, as_json: bool) -> None:
    """Recompute every entry, Merkle root, link and signature; exit 1 at the first problem. Writes nothing."""
    if expect_head is not None and _HASH.fullmatch(expect_head) is None:
        fail("--expect-head: expected a checkpoint hash of 64 lowercase hex digits")
    keys = _audit_keys(keys_file)
    head = bytes.fromhex(expect_head) if expect_head else None

    async def work(conn: Connection) -> TrailReport:
        return await verify_trail(conn, keys, expect_head=head)

    report = run_with_connection(load(), work)
    click.echo(msgspec.json.encode(report).decode() if as_json else _describe(report))
    raise SystemExit(0 if report.ok else 1)


@audit.command("proof")
@click.argument("entry_id", type=click.UUID)
def proof(entry_id: UUID) -> None:
    """Print the inclusion proof of one entry (JSON), to verify offline as docs/security.md shows."""

    async def work(conn: Connection) -> InclusionProof:
        try:
            return await prove_entry(conn, entry_id)
        except ConsentError as exc:
            fail(exc.detail)

    click.echo(msgspec.json.encode(run_with_connection(load(), work)).decode())
