"""API keys: creation, listing, revocation, and resolving a bearer token to a key.

Tokens are 256-bit random secrets shown once; only their SHA-256 is stored
(a slow password hash buys nothing for a secret of that strength, and would
cost the hot path). Publishable keys (`pk_`, scope `collect`) may be embedded in
web pages and are bound to browser origins; secret keys (`sk_`) never are.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from consent.errors import InvalidInput, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.store import api_keys as store
from consent.store.api_keys import ApiKeyRow
from consent.store.pool import Connection, Pool, transaction
from consent.text import has_control_characters

__all__ = [
    "ApiKey",
    "CreatedKey",
    "Scope",
    "active_key",
    "create_key",
    "hash_token",
    "key_from_row",
    "list_keys",
    "normalise_origin",
    "revoke_key",
    "still_valid",
]


class Scope(enum.StrEnum):
    COLLECT = "collect"  # publishable: record consent and read notices from allowed origins
    CHECK = "check"  # downstream services: consent checks and the change feed
    DSR = "dsr"  # compliance: data-subject requests and personal records
    ADMIN = "admin"  # operators: keys, policies, everything dsr can do
    METRICS = "metrics"  # monitoring: `/metrics` and nothing else


class ApiKey(msgspec.Struct, kw_only=True, frozen=True):
    id: UUID
    name: str
    scope: Scope
    origins: frozenset[str]
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def publishable(self) -> bool:
        return self.scope is Scope.COLLECT

    @property
    def compliance(self) -> bool:
        """A `dsr` or `admin` key: it may read consent history with its proof, and learn which subject
        an email address or phone number belongs to (docs/security.md, "What each key can learn")."""
        return self.scope is Scope.DSR or self.scope is Scope.ADMIN

    @property
    def actor(self) -> str:
        """How audit entries name this key."""
        return f"key:{self.id}"


class CreatedKey(msgspec.Struct, kw_only=True, frozen=True):
    key: ApiKey
    token: str  # shown once, never stored


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def key_from_row(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        origins=frozenset(row.origins),
        token_prefix=row.token_prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def normalise_origin(origin: str) -> str:
    """`https://Shop.Example:443/` -> `https://shop.example`; the form browsers send in `Origin`."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or has_control_characters(origin):
        raise InvalidInput("an origin is scheme://host[:port], e.g. https://shop.example", field="origins")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput("an origin has no path, query or credentials", field="origins")
    try:
        port_number = parts.port
    except ValueError:  # not a number, or out of range
        raise InvalidInput("an origin's port is a number from 0 to 65535", field="origins") from None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = "" if port_number in (None, default_port) else f":{port_number}"
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _validate(name: str, scope: Scope, origins: list[str]) -> list[str]:
    if not name.strip() or len(name) > 100:
        raise InvalidInput("a key name is 1 to 100 characters", field="name")
    if has_control_characters(name):
        raise InvalidInput("a key name holds no control characters", field="name")
    if scope is Scope.COLLECT and not origins:
        raise InvalidInput("a publishable (collect) key needs at least one allowed origin", field="origins")
    if scope is not Scope.COLLECT and origins:
        raise InvalidInput("only publishable (collect) keys are bound to origins", field="origins")
    return sorted({normalise_origin(origin) for origin in origins})


async def create_key(db: Connection | Pool, *, name: str, scope: Scope, origins: list[str], actor: str) -> CreatedKey:
    """Create a key and audit it, in one transaction (on a connection of `db` if it is the pool);
    the token is returned once."""
    clean_origins = _validate(name, scope, origins)
    token = ("pk_" if scope is Scope.COLLECT else "sk_") + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with transaction(db) as conn:
        row = await store.insert(
            conn,
            key_id=uuid7(),
            name=name.strip(),
            scope=scope.value,
            origins=clean_origins,
            token_hash=hash_token(token),
            token_prefix=token[:10],
            created_at=now,
        )
        key = key_from_row(row)
        entry = audit.AuditEntry(
            actor=actor,
            action="api_key.create",
            target={"api_key_id": str(key.id)},
            detail={"scope": scope.value, "origins": clean_origins},
        )
        await audit.record(conn, entry, now=now)
    return CreatedKey(key=key, token=token)


async def list_keys(conn: Connection | Pool) -> list[ApiKey]:
    return [key_from_row(row) for row in await store.list_all(conn)]


async def revoke_key(db: Connection | Pool, key_id: UUID, *, actor: str) -> ApiKey:
    """Revoke a key at once (every instance is notified) and audit it."""
    now = datetime.now(UTC)
    async with transaction(db) as conn:
        row = await store.revoke(conn, key_id, now)
        if row is None:
            raise NotFound("no API key has this id", field="key_id")
        await audit.record(
            conn,
            audit.AuditEntry(actor=actor, action="api_key.revoke", target={"api_key_id": str(key_id)}),
            now=now,
        )
    return key_from_row(row)


async def active_key(conn: Connection | Pool, token: str) -> ApiKey | None:
    """The existing, unrevoked key of `token`, or None."""
    row = await store.fetch_by_hash(conn, hash_token(token))
    return None if row is None or row.revoked_at is not None else key_from_row(row)


async def still_valid(conn: Connection | Pool, tokens: Iterable[str]) -> bool:
    """Whether every one of `tokens` is an existing, unrevoked key."""
    for token in tokens:
        row = await store.fetch_by_hash(conn, hash_token(token))
        if row is None or row.revoked_at is not None:
            return False
    return True
