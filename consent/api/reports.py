"""Compliance reports: `/v1/reports/...` for dsr and admin keys."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from consent.api.auth import require_key, scopes
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from consent.service.requests.reports import ReportRow, render_csv, requests_report

__all__ = ["ReportsController"]


class ReportsController(Controller):
    path = "/v1/reports"
    tags = ["requests"]
    guards = [require_key]
    opt = scopes(Scope.DSR, Scope.ADMIN)

    @get(
        "/requests",
        operation_id="getRequestsReport",
        summary="The record of requests received between two days (CCPA §7101): JSON, or CSV with format=csv",
        media_type="application/json",
    )
    async def requests(
        self,
        request: Request[Any, Any, Any],
        start: Annotated[date, QueryParameter(name="from", description="First day of receipt (UTC), included")],
        end: Annotated[date, QueryParameter(name="to", description="Last day of receipt (UTC), included")],
        format: Annotated[Literal["json", "csv"], QueryParameter(name="format")] = "json",
    ) -> Response[list[ReportRow] | str]:
        runtime: Runtime = request.app.state.runtime
        rows = await requests_report(runtime.pool, start, end)
        if format == "csv":
            return Response(render_csv(rows), media_type="text/csv")
        return Response(rows)
