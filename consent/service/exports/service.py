"""Access and portability exports: built once per request, downloaded once, purged when expired.

    exports = ExportService(pool, reads=..., data_keys=..., policy=..., signing_keys=..., lifetime=timedelta(days=7))
    result = await exports.export_executor(request)   # in a job: idempotent, ends cleanly if erased
    url = await exports.export_url(request.id)        # "/v1/exports/<token>" while downloadable
    download = await exports.download(token)          # once; then 410

The archive (`archive.build_archive`) is stored encrypted under the subject's data key, so
erasing the subject makes it unreadable at once. Its link's token is derived from a stored random
nonce under that key (`crypto.link_token`); only the token's SHA-256 is stored to find it again.
Building, downloading, a refused download and purging are audited (ids and sizes, nothing personal).
The export's rows are read where `reads` sends them: the read replica once it has replayed every
write committed before the build started (`DATABASE_REPLICA_URL`), else the primary.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from consent.errors import Gone, NotFound
from consent.ids import uuid7
from consent.service import audit
from consent.service.exports.archive import build_archive
from consent.service.exports.contents import ExportContents, gather
from consent.service.exports.schema import ExportDocument
from consent.service.policy_versions import PolicyHolder
from consent.service.replica import Reads
from consent.service.requests.execution import Executed
from consent.service.vault.data_keys import DataKeys
from consent.store import exports as store
from consent.store import vault as vault_store
from consent.store.exports import ExportRow, NewExport
from consent.store.pool import Connection, Pool, transaction
from consent.store.requests import RequestRow
from crypto import SigningKeyRing, decrypt_field, encrypt_field, link_token, link_token_hash, new_link_nonce
from policies import RequestType

__all__ = [
    "ACTOR",
    "EXPORTS_PATH",
    "Download",
    "ExportExpired",
    "ExportOutcome",
    "ExportResult",
    "ExportService",
    "ExportUnavailable",
    "ExportUsed",
    "purge_exports",
]

log = logging.getLogger(__name__)

ACTOR = "system:exports"
DOWNLOAD_ACTOR = "export_link"
"""The audit actor of a download: the link is the credential, no API key is involved."""
EXPORTS_PATH = "/v1/exports/"
TABLE = "exports"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class ExportUsed(Gone):
    kind = "export-used"
    title = "Export already downloaded"


class ExportExpired(Gone):
    kind = "export-expired"
    title = "Export expired"


class ExportUnavailable(Gone):
    kind = "export-unavailable"
    title = "Export unavailable"


class ExportOutcome(enum.StrEnum):
    BUILT = "built"
    ALREADY_BUILT = "already_built"
    """The request had its export already (a job run again): nothing new was made."""
    SUBJECT_ERASED = "subject_erased"
    """The subject was erased before the export could be stored: there is nothing to export."""


class ExportResult(msgspec.Struct, kw_only=True, frozen=True):
    outcome: ExportOutcome
    export_id: UUID | None = None
    expires_at: datetime | None = None


class Download(msgspec.Struct, kw_only=True, frozen=True):
    filename: str
    archive: bytes

    def __repr__(self) -> str:
        return f"Download({self.filename!r}, [{len(self.archive)} bytes])"


def _token_text(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def _token_bytes(text: str) -> bytes | None:
    if not _TOKEN.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=")
    except binascii.Error:
        return None


def _refusal(row: ExportRow | None, now: datetime) -> NotFound | Gone:
    if row is None:
        return NotFound("no export has this link (it may have been purged after it expired)", field="token")
    if row.downloaded_at is not None:
        return ExportUsed("this link was used already: an export is downloaded once", field="token")
    if row.expires_at <= now or not row.available:
        return ExportExpired("this link has expired", field="token", extra={"expired_at": row.expires_at.isoformat()})
    return ExportUnavailable("this export can no longer be read", field="token")


def _target(row: ExportRow) -> dict[str, str]:
    return {"export_id": str(row.id), "request_id": str(row.request_id), "subject_id": str(row.subject_id)}


def _built(request: RequestRow, new: NewExport, document: ExportDocument) -> audit.AuditEntry:
    detail: dict[str, audit.AuditValue] = {
        "type": request.type,
        "coverage": document.coverage.rule,
        "events": len(document.consent_events),
        "bytes": new.archive_size,
        "expires_at": new.expires_at.isoformat(),
    }
    target = {"export_id": str(new.id), "request_id": str(new.request_id), "subject_id": str(new.subject_id)}
    return audit.AuditEntry(actor=ACTOR, action="export.built", target=target, detail=detail)


class ExportService:
    """The exports of one process; holds nothing but references."""

    def __init__(
        self,
        pool: Pool,
        *,
        reads: Reads,
        data_keys: DataKeys,
        policy: PolicyHolder,
        signing_keys: SigningKeyRing,
        lifetime: timedelta,
    ) -> None:
        self._pool = pool
        self._reads = reads
        self._data_keys = data_keys
        self._policy = policy
        self._signing_keys = signing_keys
        self.lifetime = lifetime

    async def export_executor(self, request: RequestRow) -> ExportResult:
        """Build and store the export of an access or portability request, once.

        Idempotent: a request that has its export gets it back (`ALREADY_BUILT`), even when two
        runs race. A subject erased before or during the build ends cleanly (`SUBJECT_ERASED`)
        instead of failing again and again.
        """
        if request.type not in (RequestType.ACCESS, RequestType.PORTABILITY):
            raise ValueError(f"a {request.type} request has no export")
        existing = await store.fetch_by_request(self._pool, request.id)
        if existing is not None:
            return ExportResult(
                outcome=ExportOutcome.ALREADY_BUILT, export_id=existing.id, expires_at=existing.expires_at
            )
        key = await self._data_keys.get(self._pool, request.subject_id)
        if key is None:
            return await self._erased(request)
        now = datetime.now(UTC)
        export_id = uuid7()
        active = self._policy.current

        async def read(db: Pool) -> ExportContents:
            async with db.acquire() as conn:
                return await gather(conn, key, active, request, export_id=export_id, now=now)

        contents = await self._reads.run(read, subjects=(request.subject_id,), fresh=True)
        archive = build_archive(contents, self._signing_keys)
        nonce = new_link_nonce()
        new = NewExport(
            id=export_id,
            request_id=request.id,
            subject_id=request.subject_id,
            token_nonce=nonce,
            token_hash=link_token_hash(link_token(key, nonce)),
            archive_ciphertext=encrypt_field(key, archive, subject_id=request.subject_id, table=TABLE, field="archive"),
            archive_size=len(archive),
            created_at=now,
            expires_at=now + self.lifetime,
        )
        async with transaction(self._pool) as conn:
            erased = await vault_store.is_tombstoned(conn, request.subject_id)
            earlier = (
                None
                if erased or await store.insert_export(conn, new)
                else await store.fetch_by_request(conn, request.id)
            )
            if not erased and earlier is None:
                await audit.record(conn, _built(request, new, contents.document), now=now)
        if erased:
            return await self._erased(request)
        if earlier is not None:  # another run stored it first
            return ExportResult(
                outcome=ExportOutcome.ALREADY_BUILT, export_id=earlier.id, expires_at=earlier.expires_at
            )
        log.info("export %s built for request %s: %d bytes", export_id, request.id, len(archive))
        return ExportResult(outcome=ExportOutcome.BUILT, export_id=export_id, expires_at=new.expires_at)

    async def execute(self, conn: Connection, request: RequestRow, now: datetime) -> Executed:
        """The executor of access and portability requests (`consent.service.requests.execution`).

        The export is built and stored in transactions of its own (`export_executor`, idempotent),
        while `conn` holds the request's lock; the request then completes with it, as it has no
        recipient to order. A run repeated after a crash finds the export built and completes.
        """
        result = await self.export_executor(request)
        outcome: dict[str, Any] = {"export": result.outcome.value}
        if result.export_id is not None:
            outcome["export_id"] = str(result.export_id)
        if result.expires_at is not None:
            outcome["expires_at"] = result.expires_at.isoformat()
        return Executed(outcome=outcome, audit={"export": result.outcome.value})

    async def _erased(self, request: RequestRow) -> ExportResult:
        async with transaction(self._pool) as conn:
            entry = audit.AuditEntry(
                actor=ACTOR,
                action="export.skipped",
                target={"request_id": str(request.id), "subject_id": str(request.subject_id)},
                detail={"reason": "subject_erased"},
            )
            await audit.record(conn, entry)
        log.info("no export for request %s: its subject was erased", request.id)
        return ExportResult(outcome=ExportOutcome.SUBJECT_ERASED)

    async def export_url(self, request_id: UUID) -> str | None:
        """The download link of the request's export (a path on this service), while it can be used."""
        row = await store.fetch_by_request(self._pool, request_id)
        if row is None or not row.available or row.expires_at <= datetime.now(UTC):
            return None
        key = await self._data_keys.get(self._pool, row.subject_id)
        if key is None:
            return None
        return EXPORTS_PATH + _token_text(link_token(key, row.token_nonce))

    async def download(self, token_text: str) -> Download:
        """The archive behind a link, once: NotFound for an unknown link, Gone for a used or expired one."""
        token = _token_bytes(token_text)
        if token is None:
            raise NotFound("no export has this link", field="token")
        token_hash = link_token_hash(token)
        now = datetime.now(UTC)
        refusal: NotFound | Gone | None = None
        async with transaction(self._pool) as conn:
            taken = await store.take_archive(conn, token_hash, now)
            if taken is None:
                row = await store.fetch_by_token(conn, token_hash)
                refusal = _refusal(row, now)
                if row is not None:
                    detail: dict[str, audit.AuditValue] = {"reason": refusal.kind}
                    entry = audit.AuditEntry(
                        actor=DOWNLOAD_ACTOR, action="export.download_refused", target=_target(row), detail=detail
                    )
                    await audit.record(conn, entry, now=now)
            else:
                row, blob = taken
                key = await self._data_keys.get(conn, row.subject_id)
                if key is None:  # erased: the archive went with the key (and stays, unreadable, until purged)
                    raise ExportUnavailable("this export can no longer be read", field="token")
                archive = decrypt_field(key, blob, subject_id=row.subject_id, table=TABLE, field="archive").reveal()
                entry = audit.AuditEntry(
                    actor=DOWNLOAD_ACTOR,
                    action="export.downloaded",
                    target=_target(row),
                    detail={"bytes": len(archive)},
                )
                await audit.record(conn, entry, now=now)
        if refusal is not None:
            raise refusal
        assert taken is not None
        return Download(filename=f"export-{taken[0].request_id}.zip", archive=archive)


async def purge_exports(pool: Pool, *, now: datetime, keep_rows_for: timedelta) -> tuple[int, int]:
    """Drop the archives of expired exports (each audited), and delete the rows expired longer ago than
    `keep_rows_for` (their links then answer 404 rather than 410): (archives dropped, rows deleted)."""
    async with transaction(pool) as conn:
        dropped = await store.drop_expired_archives(conn, now)
        deleted = await store.delete_forgotten(conn, now - keep_rows_for)
        entries = [
            audit.AuditEntry(
                actor="system:housekeeping",
                action="export.purged",
                target=_target(row),
                detail={"expired_at": row.expires_at.isoformat()},
            )
            for row in dropped
        ]
        if deleted:
            entries.append(
                audit.AuditEntry(actor="system:housekeeping", action="export.forgotten", detail={"rows": deleted})
            )
        await audit.record_many(conn, entries, now=now)
    return len(dropped), deleted
