"""`GET /v1/exports/{token}`: the person downloads their access export, once, without an API key.

The token in the path is the credential (256 bits, derived under the subject's data key; only
its hash is stored). An unknown link answers 404; a used or expired one 410 (`export-used`,
`export-expired`), each a problem document. The archive is never cached along the way.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath

from consent.runtime import Runtime

__all__ = ["ExportsController"]


class ExportsController(Controller):
    path = "/v1/exports"
    tags = ["requests"]

    @get(
        "/{token:str}",
        operation_id="downloadExport",
        summary="Download an access or portability export once, through its link (the token is the credential)",
        media_type="application/zip",
    )
    async def download(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[bytes]:
        runtime: Runtime = request.app.state.runtime
        download = await runtime.exports.download(token)
        return Response(
            download.archive,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{download.filename}"',
                "Cache-Control": "no-store",
            },
        )
