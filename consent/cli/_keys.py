"""`consent keys status|rotate|retire`."""

from __future__ import annotations

import click

from consent.cli._context import CLI_ACTOR, fail, load, run_with_connection, say
from consent.config import ConfigError
from consent.errors import ConsentError
from consent.key_material import KeyMaterial, load_key_material, reload_master_keys
from consent.service.vault.master_key_rotation import (
    KeyStatus,
    add_master_key_version,
    announce_current_version,
    key_status,
    refuse_retired_current,
    retire_version,
    rewrap_data_keys,
)
from consent.store.pool import Connection
from crypto import KeyMaterialError, LocalKeyProvider, MasterKeyRing

__all__ = ["keys"]


def _material() -> KeyMaterial:
    try:
        return load_key_material(load(), announce=say)
    except ConfigError as exc:
        fail(f"configuration: {exc}")


def _reread(material: KeyMaterial) -> MasterKeyRing:
    try:
        ring = reload_master_keys(material)
    except (OSError, KeyMaterialError) as exc:
        fail(f"cannot re-read {material.master_key_file}: {exc}")
    if ring is None:
        fail("the master keys do not come from a file")
    return ring


@click.group()
def keys() -> None:
    """Master key versions: status, online rotation, retirement."""


@keys.command()
def status() -> None:
    """Configured master key versions and how many data keys each one wraps."""
    material = _material()

    async def work(conn: Connection) -> KeyStatus:
        return await key_status(conn, material.provider)

    report = run_with_connection(load(), work)
    pin = " (pinned by CONSENT_MASTER_KEY_CURRENT)" if material.master_key_current is not None else ""
    click.echo(f"current master key version: {report.current_version}{pin}")
    versions = sorted(set(report.configured_versions) | set(report.data_keys_by_version))
    for version in versions:
        notes = []
        if version in report.configured_versions:
            notes.append("configured")
        else:
            notes.append("NOT CONFIGURED: data keys under it cannot be read")
        if version in report.retired_versions:
            notes.append("retired")
        count = report.data_keys_by_version.get(version, 0)
        click.echo(f"  version {version:>3}: {count:>9} data keys  ({', '.join(notes)})")


@keys.command()
@click.option(
    "--add-version/--no-add-version",
    default=None,
    help="Add a new master key version to the key file first (default when keys come from a file).",
)
@click.option("--batch", default=500, show_default=True, help="Data keys rewrapped per transaction.")
def rotate(add_version: bool | None, batch: int) -> None:
    """Rewrap every data key under the newest master key version, while the service keeps serving.

    With a key file, a new version is added to it first and running instances
    reload it. With CONSENT_MASTER_KEYS, add the new version to the variable on
    every instance first, then run this. Safe to interrupt and run again.
    """
    material = _material()
    provider = material.provider
    pinned = material.master_key_current is not None
    if add_version is None:
        add_version = material.master_key_file is not None and not pinned
    if add_version:
        if material.master_key_file is None:
            fail("keys come from CONSENT_MASTER_KEYS: add the new version there, then run with --no-add-version")
        if pinned:
            fail(
                f"CONSENT_MASTER_KEY_CURRENT pins version {material.master_key_current}: a new version would not be"
                " used; add it to every instance's key file, move the pin to it, then run with --no-add-version"
            )
        version = add_master_key_version(material.master_key_file)
        provider = LocalKeyProvider(_reread(material))
        say(f"added master key version {version} to {material.master_key_file}")

    async def work(conn: Connection) -> int:
        try:
            await refuse_retired_current(conn, provider)
            await announce_current_version(conn, provider)
            return await rewrap_data_keys(
                conn, provider, actor=CLI_ACTOR, batch=batch, progress=lambda n: say(f"  rewrapped {n} data keys")
            )
        except ConsentError as exc:
            fail(exc.detail)

    done = run_with_connection(load(), work)
    click.echo(f"rotated: {done} data keys rewrapped under master key version {provider.current_version}")


@keys.command()
@click.argument("version", type=int)
def retire(version: int) -> None:
    """Retire VERSION: refused while it is current or still wraps any data key."""
    material = _material()

    async def work(conn: Connection) -> None:
        try:
            await retire_version(conn, material.provider, version, actor=CLI_ACTOR)
        except ConsentError as exc:
            fail(exc.detail)

    run_with_connection(load(), work)
    click.echo(f"master key version {version} retired; it may now be removed from the configuration")
