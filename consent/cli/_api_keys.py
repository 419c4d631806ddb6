"""`consent apikeys create|list|revoke`."""

from __future__ import annotations

import uuid

import click

from consent.cli._context import CLI_ACTOR, fail, load, run_with_connection, say
from consent.errors import ConsentError
from consent.service.api_keys import issuing as api_keys
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection

__all__ = ["apikeys"]


@click.group()
def apikeys() -> None:
    """Create, list and revoke API keys (sent as 'Authorization: Bearer <token>')."""


@apikeys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'shop-banner' or 'recommender'.")
@click.option(
    "--scope",
    required=True,
    type=click.Choice([s.value for s in Scope]),
    help="collect: publishable, for web pages; check: consent checks; dsr: data-subject requests; admin: all.",
)
@click.option("--origin", "origins", multiple=True, help="Allowed browser origin of a collect key (repeatable).")
def create(name: str, scope: str, origins: tuple[str, ...]) -> None:
    """Create a key and print its token, alone on stdout: KEY=$(consent apikeys create ...).

    The token is shown once; only its hash is stored.
    """

    async def work(conn: Connection) -> api_keys.CreatedKey:
        try:
            return await api_keys.create_key(
                conn, name=name, scope=Scope(scope), origins=list(origins), actor=CLI_ACTOR
            )
        except ConsentError as exc:
            fail(f"{exc.field}: {exc.detail}" if exc.field else exc.detail)

    created = run_with_connection(load(), work)
    say(f"created {created.key.scope.value} key {created.key.id} ({created.key.name}); the token is shown once:")
    click.echo(created.token)


@apikeys.command("list")
def list_() -> None:
    """List keys: id, scope, name, token prefix, origins, state. Tokens are never shown."""
    keys = run_with_connection(load(), api_keys.list_keys)
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        origins = ",".join(sorted(key.origins)) or "-"
        click.echo(f"{key.id}  {key.scope.value:<7}  {key.token_prefix}…  {state:<24}  {origins}  {key.name}")
    if not keys:
        say("no API keys yet: consent apikeys create --name NAME --scope SCOPE")


@apikeys.command("revoke")
@click.argument("key_id", type=click.UUID)
def revoke(key_id: uuid.UUID) -> None:
    """Revoke a key; every instance refuses it at once."""

    async def work(conn: Connection) -> api_keys.ApiKey:
        try:
            return await api_keys.revoke_key(conn, key_id, actor=CLI_ACTOR)
        except ConsentError as exc:
            fail(exc.detail)

    key = run_with_connection(load(), work)
    say(f"revoked {key.scope.value} key {key.id} ({key.name})")
