"""Policy versions in the service: applying a catalogue, and holding the active one in memory.

A policy is applied as a whole new version (audited, with its text and
digest); exactly one version is active. Every instance holds the active policy
in a :class:`PolicyHolder` and reloads it when a NOTIFY says another version
was applied, so a new policy takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import msgspec

from consent.errors import Conflict
from consent.service import audit
from consent.store import consent_state
from consent.store import policy_versions as store
from consent.store.notifications import Notifications
from consent.store.policy_versions import PolicyVersionRow
from consent.store.pool import Connection, DatabaseError, DatabaseUnavailable, Pool
from policies import Policy, PolicyDiff, PolicyInvalid, Problem, diff_policies, parse_policy, policy_digest

__all__ = [
    "ActivePolicy",
    "AppliedPolicy",
    "PolicyHolder",
    "apply_policy",
    "bundled_policy",
    "count_reconsent",
    "ensure_policy",
    "fetch_active_policy",
    "list_policy_versions",
    "read_policy_file",
]

log = logging.getLogger(__name__)
CHANNEL = "consent_policy"
BUNDLED = "shop.toml"


class ActivePolicy(msgspec.Struct, kw_only=True, frozen=True):
    version: int
    digest: str
    source: str
    applied_at: datetime
    policy: Policy


class AppliedPolicy(msgspec.Struct, kw_only=True, frozen=True):
    version: int
    changed: bool
    diff: PolicyDiff | None
    """Against the version that was active before; None for the first policy."""


def bundled_policy() -> tuple[str, str]:
    """(text, source) of the example policy shipped with the service."""
    return resources.files("policies").joinpath("examples", BUNDLED).read_text("utf-8"), BUNDLED


def read_policy_file(path: Path) -> tuple[str, str]:
    """(text, source) of a policy file; the source is its file name, as problems cite it.

    Raises `policies.PolicyInvalid` when the file cannot be read or is not UTF-8 text.
    """
    try:
        return path.read_text("utf-8"), path.name
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or type(exc).__name__}"
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text (byte {exc.start})"
    raise PolicyInvalid([Problem(source=path.name, path="", message=message)])


async def fetch_active_policy(conn: Connection | Pool) -> ActivePolicy | None:
    row = await store.fetch_active(conn)
    if row is None:
        return None
    return ActivePolicy(
        version=row.version,
        digest=row.digest,
        source=row.source,
        applied_at=row.applied_at,
        policy=parse_policy(row.document, source=row.source),
    )


async def list_policy_versions(conn: Connection | Pool) -> list[PolicyVersionRow]:
    """Every applied version, oldest first (without its text)."""
    return await store.list_versions(conn)


async def apply_policy(conn: Connection, text: str, *, source: str, actor: str) -> AppliedPolicy:
    """Validate `text` and make it the active policy as a new version, unless it already is.

    Raises `policies.PolicyInvalid` (with every problem) before anything is stored.
    """
    policy = parse_policy(text, source=source)
    digest = policy_digest(policy)
    now = datetime.now(UTC)
    async with conn.transaction():
        await store.lock(conn)
        active = await fetch_active_policy(conn)
        if active is not None and active.digest == digest:
            return AppliedPolicy(version=active.version, changed=False, diff=None)
        diff = diff_policies(active.policy, policy) if active is not None else None
        version = await store.activate_new_version(
            conn, digest=digest, source=source, document=text, applied_at=now, applied_by=actor
        )
        detail: dict[str, audit.AuditValue] = {"digest": digest, "source": source}
        if active is not None:
            detail["previous_version"] = active.version
        await audit.record(
            conn,
            audit.AuditEntry(actor=actor, action="policy.apply", target={"policy_version": version}, detail=detail),
            now=now,
        )
    return AppliedPolicy(version=version, changed=True, diff=diff)


async def count_reconsent(conn: Connection, purpose_id: str, min_notice_version: int) -> int:
    """Subjects whose grant of `purpose_id` was given under a notice below `min_notice_version`:
    who must be asked again when a policy raises that purpose's minimum notice version."""
    return await consent_state.count_outdated_grants(conn, purpose_id, min_notice_version)


async def ensure_policy(conn: Connection, *, policy_file: Path | None, actor: str = "system") -> ActivePolicy:
    """The active policy; on a fresh database, apply `policy_file` (default: the bundled example)."""
    active = await fetch_active_policy(conn)
    if active is None:
        text, source = read_policy_file(policy_file) if policy_file else bundled_policy()
        await apply_policy(conn, text, source=source, actor=actor)
        active = await fetch_active_policy(conn)
    if active is None:
        raise Conflict("no active policy could be established")
    return active


class PolicyHolder:
    """The active policy of this process; the check path reads `current` without I/O."""

    def __init__(self, pool: Pool, notifications: Notifications, initial: ActivePolicy) -> None:
        self._pool = pool
        self.current = initial
        self._reload: asyncio.Task[None] | None = None
        self._stale = False
        notifications.subscribe(CHANNEL, lambda _payload: self.schedule_reload(), on_reset=self.schedule_reload)

    async def stop(self) -> None:
        """Cancel a reload under way (before the pool closes under it)."""
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload

    def schedule_reload(self) -> None:
        self._stale = True
        if self._reload is None or self._reload.done():
            self._reload = asyncio.get_running_loop().create_task(self._reload_until_fresh(), name="policy-reload")

    async def _reload_until_fresh(self) -> None:
        # A change announced while a reload is under way must not be lost: go round again.
        while self._stale:
            self._stale = False
            await self.reload()

    async def reload(self) -> None:
        try:
            active = await fetch_active_policy(self._pool)
        except (OSError, TimeoutError, DatabaseError, DatabaseUnavailable) as exc:
            if self._pool.is_closing():
                return  # shutting down: the notification connection's reset is not news
            log.warning(
                "could not reload the policy (%s); keeping version %d", type(exc).__name__, self.current.version
            )
            return
        if active is not None and active.version != self.current.version:
            log.info("policy version %d is now active", active.version)
            self.current = active
