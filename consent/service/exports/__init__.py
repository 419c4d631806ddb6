"""Access and portability exports: one zip per request, encrypted, downloadable once.

`service.ExportService` builds (`export_executor`, run as a job), links (`export_url`) and hands
out (`download`) exports; `purge_exports` is housekeeping's step. `schema` is the versioned
document in `export.json`, `archive` the zip around it, `contents` what is read for it and
`disclosures` the GDPR Art. 15(1) information taken from the policy. See docs/exports.md.
"""

from consent.service.exports.schema import SCHEMA_VERSION, ExportDocument
from consent.service.exports.service import (
    EXPORTS_PATH,
    Download,
    ExportExpired,
    ExportOutcome,
    ExportResult,
    ExportService,
    ExportUnavailable,
    ExportUsed,
    purge_exports,
)

__all__ = [
    "EXPORTS_PATH",
    "SCHEMA_VERSION",
    "Download",
    "ExportDocument",
    "ExportExpired",
    "ExportOutcome",
    "ExportResult",
    "ExportService",
    "ExportUnavailable",
    "ExportUsed",
    "purge_exports",
]
