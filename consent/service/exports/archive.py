"""The zip a person downloads: `export.json`, CSV files, a README and a signed manifest.

    archive.zip
    ├── README.txt             for people: what is inside, the period covered, your rights
    ├── export.json            the whole export (`schema.ExportDocument`, versioned)
    ├── personal_record.csv    field,value
    ├── identifiers.csv        kind,value
    ├── consent_events.csv     one line per recorded choice
    ├── receipts.csv           one line per receipt (choices recorded together)
    ├── requests.csv           the person's data subject requests
    ├── purposes.csv           why data is processed, on which legal basis
    ├── recipients.csv         who receives it, and where
    ├── retention.csv          how long each category is kept
    └── manifest.jws           the SHA-256 of every file above, signed (EdDSA, verify with the JWKS)

Built in memory (the largest part is the consent history: a few megabytes before compression).
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from consent.service.exports.contents import ExportContents
from consent.service.exports.schema import ExportDocument
from crypto import SigningKeyRing, sign_jws

__all__ = ["MANIFEST", "Manifest", "build_archive"]

MANIFEST = "manifest.jws"
_encode = msgspec.json.encode


class Manifest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The payload of `manifest.jws`: which export this is and the SHA-256 (hex) of each file."""

    export_id: UUID
    request_id: UUID
    subject_id: UUID
    generated_at: datetime
    files: dict[str, str]


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return text.getvalue().encode()


def _csv_files(document: ExportDocument) -> dict[str, bytes]:
    record = msgspec.structs.asdict(document.personal_record)
    record["attributes"] = _encode(record["attributes"]).decode() if record["attributes"] else None
    processing = document.processing
    return {
        "personal_record.csv": _csv(("field", "value"), ((k, v) for k, v in record.items() if v is not None)),
        "identifiers.csv": _csv(("kind", "value"), ((i.kind, i.value) for i in document.identifiers)),
        "requests.csv": _csv(
            (
                "id",
                "type",
                "state",
                "jurisdiction",
                "channel",
                "received_at",
                "due_at",
                "completed_at",
                "rejected_at",
                "rejection_reason",
                "extended",
                "extension_reason",
                "note",
            ),
            (
                (
                    r.id,
                    r.type,
                    r.state,
                    r.jurisdiction,
                    r.channel,
                    r.received_at.isoformat(),
                    r.due_at.isoformat(),
                    r.completed_at and r.completed_at.isoformat(),
                    r.rejected_at and r.rejected_at.isoformat(),
                    r.rejection_reason,
                    str(r.extended).lower(),
                    r.extension_reason,
                    r.note,
                )
                for r in document.requests
            ),
        ),
        "purposes.csv": _csv(
            (
                "id",
                "title",
                "legal_basis",
                "data_categories",
                "consent_lifetime_days",
                "sale_or_sharing",
                "third_party_countries",
                "description",
            ),
            (
                (
                    p.id,
                    p.title,
                    p.legal_basis,
                    " ".join(p.data_categories),
                    p.consent_lifetime_days,
                    str(p.sale_or_sharing).lower(),
                    " ".join(p.third_party_countries),
                    p.description,
                )
                for p in processing.purposes
            ),
        ),
        "recipients.csv": _csv(
            ("id", "name", "country", "third_party", "purposes"),
            (
                (r.id, r.name, r.country, str(r.third_party).lower(), " ".join(r.purposes))
                for r in processing.recipients
            ),
        ),
        "retention.csv": _csv(
            ("data_category", "personal_data_days", "consent_proof_days"),
            ((r.data_category, r.personal_data_days, r.consent_proof_days) for r in processing.retention),
        ),
    }


def _readme(document: ExportDocument) -> bytes:
    processing = document.processing
    coverage = document.coverage
    period = (
        "everything we hold"
        if coverage.since is None
        else f"from {coverage.since.date().isoformat()} to {coverage.until.date().isoformat()}"
    )
    rights = "\n".join(f"- {r.description}\n  {r.how}" for r in processing.rights)
    authority = processing.complaints.authority
    lines = [
        f"Your data held by {processing.controller.name}",
        "",
        f"This archive answers your request {document.request_id} of {document.generated_at.date().isoformat()}.",
        f"Your consent history and requests cover {period}; your personal record and identifiers are as they are",
        "today. Every file is also in export.json, for a program to read (its format: schema_version "
        f"{document.schema_version}, described at {processing.controller.policy_url} or in our documentation).",
        "",
        "What is inside",
        "- personal_record.csv: what we hold about you (name, contact details, other attributes)",
        "- identifiers.csv: how we recognise you (email, phone, account id, device id)",
        f"- consent_events.csv: each choice you made about how we use your data ({len(document.consent_events)})",
        f"- receipts.csv: the choices you made together, one line each ({len(document.receipts)})",
        f"- requests.csv: your requests to us ({len(document.requests)})",
        "- purposes.csv: why we process your data, and on which legal basis",
        "- recipients.csv: who receives it, and in which country",
        "- retention.csv: how long we keep each kind of data",
        f"- {MANIFEST}: our signature over every file, so you can show this export is genuine",
        "",
        "Your rights",
        rights,
        "",
        "How to complain",
        processing.complaints.text,
        *([f"The authority for us: {authority}"] if authority else []),
        "",
        f"Contact: {processing.controller.contact}",
        *([f"Data protection officer: {processing.controller.dpo}"] if processing.controller.dpo else []),
        f"Privacy policy: {processing.controller.policy_url}",
        "",
        processing.automated_decisions,
        "",
    ]
    return "\n".join(lines).encode()


def build_archive(contents: ExportContents, signing_keys: SigningKeyRing) -> bytes:
    """The zip of `contents`, with a manifest signed by the current receipt-signing key."""
    document = contents.document
    files = {
        "README.txt": _readme(document),
        "export.json": _encode(document),
        **_csv_files(document),
        "consent_events.csv": contents.events_csv,
        "receipts.csv": contents.receipts_csv,
    }
    manifest = Manifest(
        export_id=document.export_id,
        request_id=document.request_id,
        subject_id=document.subject_id,
        generated_at=document.generated_at,
        files={name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    )
    files[MANIFEST] = sign_jws(_encode(manifest), signing_keys, typ="JWT").encode()
    buffer = io.BytesIO()
    # Level 1: the history compresses about tenfold anyway, at half the time of the default level.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=document.generated_at.timetuple()[:6])
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return buffer.getvalue()
