"""An export's life: built once, downloaded once, refused after use or expiry, purged, audited, never logged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from consent.errors import NotFound
from consent.runtime import Runtime
from consent.service.exports import ExportExpired, ExportOutcome, ExportUnavailable, ExportUsed, purge_exports
from consent.service.vault.personal_records import erase_subject_keys
from consent.store.requests import RequestRow
from tests.service.exports.conftest import EMAIL, RECORD, Subject, file_request


async def token_of(runtime: Runtime, request: RequestRow) -> str:
    url = await runtime.exports.export_url(request.id)
    assert url is not None
    return url.removeprefix("/v1/exports/")


async def audited(runtime: Runtime, action: str) -> list[dict[str, object]]:
    rows = await runtime.pool.fetch("SELECT actor, target, detail FROM audit_log WHERE action = $1 ORDER BY id", action)
    return [dict(row.items()) for row in rows]


async def test_building_again_returns_the_first_export(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)

    first = await runtime.exports.export_executor(request)
    again = await runtime.exports.export_executor(request)

    assert (first.outcome, again.outcome) == (ExportOutcome.BUILT, ExportOutcome.ALREADY_BUILT)
    assert again.export_id == first.export_id
    assert await runtime.pool.fetchval("SELECT count(*) FROM exports") == 1
    assert len(await audited(runtime, "export.built")) == 1


async def test_a_link_downloads_once_then_says_it_was_used(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)
    token = await token_of(runtime, request)

    await runtime.exports.download(token)
    with pytest.raises(ExportUsed) as used:
        await runtime.exports.download(token)

    assert used.value.status == 410
    assert await runtime.exports.export_url(request.id) is None
    assert await runtime.pool.fetchval("SELECT archive_ciphertext FROM exports") is None
    [refused] = await audited(runtime, "export.download_refused")
    assert refused["detail"] == {"reason": "export-used"}


async def test_the_download_is_audited_without_personal_values(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    built = await runtime.exports.export_executor(request)

    download = await runtime.exports.download(await token_of(runtime, request))

    [entry] = await audited(runtime, "export.downloaded")
    assert entry["actor"] == "export_link"
    assert entry["target"] == {
        "export_id": str(built.export_id), "request_id": str(request.id), "subject_id": str(subject.id),
    }  # fmt: skip
    assert entry["detail"] == {"bytes": len(download.archive)}


async def test_an_expired_link_says_so_and_housekeeping_purges_the_archive(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)
    token = await token_of(runtime, request)
    await runtime.pool.execute("UPDATE exports SET expires_at = now() - interval '1 second'")

    with pytest.raises(ExportExpired):
        await runtime.exports.download(token)
    dropped = await purge_exports(runtime.pool, now=datetime.now(UTC), keep_rows_for=timedelta(days=7))

    assert dropped == (1, 0)
    assert await runtime.pool.fetchval("SELECT archive_ciphertext FROM exports") is None
    [purged] = await audited(runtime, "export.purged")
    assert purged["target"]["request_id"] == str(request.id)  # type: ignore[index]
    with pytest.raises(ExportExpired):
        await runtime.exports.download(token)


async def test_after_the_retention_an_expired_link_is_unknown(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)
    token = await token_of(runtime, request)
    later = datetime.now(UTC) + runtime.exports.lifetime + timedelta(days=8)

    assert await purge_exports(runtime.pool, now=later, keep_rows_for=timedelta(days=7)) == (1, 1)

    assert await runtime.pool.fetchval("SELECT count(*) FROM exports") == 0
    with pytest.raises(NotFound, match="no export has this link"):
        await runtime.exports.download(token)


async def test_an_export_not_yet_expired_is_left_alone(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)

    assert await purge_exports(runtime.pool, now=datetime.now(UTC), keep_rows_for=timedelta(days=7)) == (0, 0)
    assert await runtime.exports.export_url(request.id) is not None


async def test_a_subject_erased_before_the_build_ends_the_job_cleanly(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    async with runtime.pool.acquire() as conn:
        await erase_subject_keys(conn, runtime.subjects, subject.id, actor="test")

    result = await runtime.exports.export_executor(request)

    assert result.outcome is ExportOutcome.SUBJECT_ERASED
    assert await runtime.pool.fetchval("SELECT count(*) FROM exports") == 0
    assert [e["detail"] for e in await audited(runtime, "export.skipped")] == [{"reason": "subject_erased"}]
    assert (await runtime.exports.export_executor(request)).outcome is ExportOutcome.SUBJECT_ERASED


async def test_a_subject_erased_after_the_build_leaves_nothing_to_download(runtime: Runtime, subject: Subject) -> None:
    request = await file_request(runtime)
    await runtime.exports.export_executor(request)
    token = await token_of(runtime, request)
    async with runtime.pool.acquire() as conn:
        await erase_subject_keys(conn, runtime.subjects, subject.id, actor="test")

    assert await runtime.exports.export_url(request.id) is None
    with pytest.raises(ExportUnavailable):
        await runtime.exports.download(token)


async def test_a_made_up_link_is_unknown(runtime: Runtime, subject: Subject) -> None:
    for token in ("x" * 43, "too-short", "A" * 42 + "!"):
        with pytest.raises(NotFound, match="no export has this link"):
            await runtime.exports.download(token)


async def test_nothing_personal_is_logged_or_stored_in_the_clear(
    runtime: Runtime, subject: Subject, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = await file_request(runtime, note="call me on my mobile")
    await runtime.exports.export_executor(request)
    stored = bytes(await runtime.pool.fetchval("SELECT archive_ciphertext FROM exports"))
    await runtime.exports.download(await token_of(runtime, request))

    assert "export" in caplog.text  # the build was logged, by ids
    for value in (EMAIL, RECORD.name, RECORD.address, "call me"):
        assert value is not None
        assert value not in caplog.text
        assert value.encode() not in stored
    assert b"PK\x03\x04" not in stored  # the archive is not stored as a zip
