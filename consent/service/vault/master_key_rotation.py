"""Master key rotation: add a version, rewrap every data key under it online, retire old versions.

Only the small wrapped data keys are rewritten, in batches locked with
`FOR UPDATE SKIP LOCKED`, so the service keeps serving and several rotators
can run at once; nothing is re-encrypted field by field. A rotation that stops
half-way is resumed by running it again. A version can be retired once no data
key is wrapped by it, and then removed from the configuration.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import msgspec

from consent.errors import Conflict, NotFound
from consent.ids import BEFORE_ALL
from consent.service import audit
from consent.store import vault as store
from consent.store.notifications import notify
from consent.store.pool import Connection, Pool
from crypto import KeyProvider, WrappedDataKey, generate_master_key_entry, parse_master_key_file

__all__ = [
    "KeyStatus",
    "add_master_key_version",
    "announce_current_version",
    "key_status",
    "refuse_retired_current",
    "retire_version",
    "rewrap_data_keys",
]

MASTER_CHANNEL = "consent_master_keys"


class KeyStatus(msgspec.Struct, kw_only=True, frozen=True):
    current_version: int
    configured_versions: list[int]
    data_keys_by_version: dict[int, int]
    retired_versions: list[int]


async def key_status(conn: Connection, provider: KeyProvider) -> KeyStatus:
    counts = await store.count_keys_by_master_version(conn)
    retired = [row.version for row in await store.master_key_versions(conn) if row.retired_at is not None]
    return KeyStatus(
        current_version=provider.current_version,
        configured_versions=sorted(provider.versions),
        data_keys_by_version=dict(sorted(counts.items())),
        retired_versions=retired,
    )


def add_master_key_version(path: Path) -> int:
    """Append a new, higher master key version to a key file (atomically, mode 0600); returns it."""
    text = path.read_text()
    version = max(parse_master_key_file(text).versions) + 1
    updated = text.rstrip("\n") + "\n" + generate_master_key_entry(version) + "\n"
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".master-keys-")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(updated)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return version


async def _rewrap_batch(conn: Connection, provider: KeyProvider, batch: int, after: UUID) -> list[UUID]:
    """Rewrap up to `batch` stale keys of subjects after `after`, in subject order; their subjects."""
    current = provider.current_version
    async with conn.transaction():
        rows = await store.lock_stale_keys(conn, current, batch, after=after)
        subject_ids, blobs = [], []
        for row in rows:
            wrapped = WrappedDataKey(master_version=row.master_version, blob=row.wrapped_key)
            key = await provider.unwrap_data_key(wrapped, subject_id=row.subject_id)
            rewrapped = await provider.wrap_data_key(key, subject_id=row.subject_id)
            subject_ids.append(row.subject_id)
            blobs.append(rewrapped.blob)
        if subject_ids:
            await store.update_wrapped_keys(conn, subject_ids, current, blobs, datetime.now(UTC))
    return subject_ids


async def rewrap_data_keys(
    conn: Connection,
    provider: KeyProvider,
    *,
    actor: str,
    batch: int = 500,
    progress: Callable[[int], None] = lambda _done: None,
) -> int:
    """Rewrap every data key not under the current version, walking them once in subject order;
    returns how many. Resumable; a key another transaction held as the walk passed is left for the
    next run.

    Conflict if the current version is retired (`refuse_retired_current`).
    """
    await refuse_retired_current(conn, provider)
    await store.note_master_version(conn, provider.current_version, datetime.now(UTC))
    done, after = 0, BEFORE_ALL
    while rewrapped := await _rewrap_batch(conn, provider, batch, after):  # one walk over the keys
        done += len(rewrapped)
        after = rewrapped[-1]
        progress(done)
    await audit.record(
        conn,
        audit.AuditEntry(
            actor=actor,
            action="keys.rotate",
            target={"master_version": provider.current_version},
            detail={"data_keys_rewrapped": done},
        ),
    )
    return done


async def refuse_retired_current(conn: Connection | Pool, provider: KeyProvider) -> None:
    """Conflict if the version that wraps new data keys is retired (pinned by CONSENT_MASTER_KEY_CURRENT,
    or the highest of a ring that still lists it): nothing may be wrapped under a retired version again."""
    version = provider.current_version
    if any(row.version == version and row.retired_at is not None for row in await store.master_key_versions(conn)):
        raise Conflict(
            f"master key version {version} is retired and may not wrap data keys; "
            "pin a version in use with CONSENT_MASTER_KEY_CURRENT, or remove the pin",
            field="CONSENT_MASTER_KEY_CURRENT",
        )


async def announce_current_version(conn: Connection, provider: KeyProvider) -> None:
    """Tell running instances about the current master key version: they re-read the key file, so
    they can unwrap (and wrap) under it before data keys are rewrapped."""
    await notify(conn, MASTER_CHANNEL, str(provider.current_version))


async def retire_version(conn: Connection, provider: KeyProvider, version: int, *, actor: str) -> None:
    """Mark `version` retired; refused while it is current or any data key is wrapped by it."""
    if version == provider.current_version:
        raise Conflict(f"master key version {version} is current; rotate to a newer version first", field="version")
    known = {row.version for row in await store.master_key_versions(conn)} | set(provider.versions)
    if version not in known:
        raise NotFound(f"master key version {version} is neither configured nor recorded", field="version")
    async with conn.transaction():
        if not await store.retire_master_version(conn, version, datetime.now(UTC)):
            raise Conflict(
                f"data keys are still wrapped by master key version {version}; run `consent keys rotate` first",
                field="version",
            )
        await audit.record(
            conn, audit.AuditEntry(actor=actor, action="keys.retire", target={"master_version": version})
        )
