"""The compliance team's reads: the queue of requests, one request, its deliveries."""

from __future__ import annotations

from uuid import UUID

import msgspec

from consent.errors import InvalidInput, NotFound
from consent.store import request_deliveries
from consent.store import requests as store
from consent.store.pool import Pool
from consent.store.request_deliveries import DeliveryRow
from consent.store.requests import ListFilter, RequestRow

__all__ = [
    "MAX_PAGE",
    "DeliveryRow",
    "ListFilter",
    "RequestDetail",
    "RequestRow",
    "deliveries_of",
    "list_requests",
    "request_detail",
]

MAX_PAGE = 500


class RequestDetail(msgspec.Struct, kw_only=True, frozen=True):
    """One request with its deliveries (its export link comes from `consent.service.exports`)."""

    request: RequestRow
    deliveries: list[DeliveryRow]


async def list_requests(pool: Pool, where: ListFilter) -> list[RequestRow]:
    """A page of the queue in the order of receipt (for overdue requests only, set `overdue_on` to today)."""
    if not 1 <= where.limit <= MAX_PAGE:
        raise InvalidInput(f"between 1 and {MAX_PAGE}", field="limit")
    return await store.list_requests(pool, where)


async def request_detail(pool: Pool, request_id: UUID) -> RequestDetail:
    row = await store.fetch_request(pool, request_id)
    if row is None:
        raise NotFound("no request has this id", field="request_id")
    return RequestDetail(request=row, deliveries=await request_deliveries.fetch_deliveries(pool, request_id))


async def deliveries_of(pool: Pool, request_id: UUID) -> list[DeliveryRow]:
    return (await request_detail(pool, request_id)).deliveries
