"""`GET /v1/notices`: what a consent banner must show, for a jurisdiction and a language."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery, QueryParameter

from consent.api.auth import require_key, scopes
from consent.errors import InvalidInput
from consent.runtime import Runtime
from consent.service.api_keys.issuing import Scope
from policies import FALLBACK_LANGUAGE, Jurisdiction, gpc_honoured, notices_for, resolve_jurisdiction

__all__ = ["LANGUAGE_TAG", "NoticesController", "jurisdiction_of"]

# A BCP 47 language tag, loosely: what banners send (en, ja, pt-BR, zh-Hant-TW).
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


class PurposeNotice(msgspec.Struct, kw_only=True, frozen=True):
    purpose: str
    title: str
    text: str
    language: str
    notice_version: int
    regime: str | None
    """`opt_in` (off until switched on), `opt_out` (on until switched off) or null (no choice)."""
    legal_basis: str
    category: str
    gpc_opt_out: bool
    tcf_purposes: list[int]
    min_notice_version: int
    """A choice recorded under an older notice no longer counts: ask again."""
    consent_lifetime_days: int | None
    """How long a grant lasts, in days; null: it does not expire."""
    sale_or_sharing: bool
    """Sale, sharing or targeted advertising (the "Do Not Sell or Share" choice)."""
    cookies: list[str]
    """First-party cookies the purpose sets, to delete when it is refused; `name*` matches a prefix."""


class NoticesOut(msgspec.Struct, kw_only=True, frozen=True):
    policy_version: int
    jurisdiction: Jurisdiction
    jurisdiction_source: str
    """`query`, or `geo_header` when resolved from the CDN's country and region headers."""
    language: str
    """The language of the texts: the one asked for (`lang`, else `Accept-Language`) where the
    policy has it, else `en`; each purpose also names its own."""
    gpc_honoured: bool
    controller: str
    policy_url: str | None
    purposes: list[PurposeNotice]


def jurisdiction_of(
    headers: Mapping[str, str], runtime: Runtime, given: Jurisdiction | None
) -> tuple[Jurisdiction, str]:
    """The jurisdiction a request names, else the one its geo headers (lower-case names) resolve to."""
    if given is not None:
        return given, "query"
    settings = runtime.settings
    country = headers.get(settings.geo_country_header)
    region = headers.get(settings.geo_region_header)
    return resolve_jurisdiction(country, region), "geo_header"


def _language(request: Request[Any, Any, Any], lang: str | None) -> str:
    if lang is not None:
        if not LANGUAGE_TAG.match(lang):
            raise InvalidInput("a language is a BCP 47 tag such as en, ja or pt-BR", field="lang")
        return lang
    accepted = request.headers.get("accept-language", "").split(",", 1)[0].split(";", 1)[0].strip()
    return accepted if LANGUAGE_TAG.match(accepted) else FALLBACK_LANGUAGE


class NoticesController(Controller):
    path = "/v1/notices"
    tags = ["consent"]
    guards = [require_key]
    opt = scopes(*Scope)

    @get(operation_id="getNotices", summary="The purposes, texts and choices a banner must show")
    async def notices(
        self,
        request: Request[Any, Any, Any],
        jurisdiction: FromQuery[Jurisdiction | None] = None,
        lang: Annotated[str | None, QueryParameter(schema_extra={"pattern": LANGUAGE_TAG.pattern})] = None,
    ) -> NoticesOut:
        runtime: Runtime = request.app.state.runtime
        active = runtime.policy.current
        resolved, source = jurisdiction_of(request.headers, runtime, jurisdiction)
        asked = _language(request, lang)
        purposes = [
            PurposeNotice(
                purpose=n.purpose_id,
                title=n.title,
                text=n.text,
                language=n.lang,
                notice_version=n.notice_version,
                regime=n.regime.value if n.regime else None,
                legal_basis=n.legal_basis.value,
                category=n.category.value,
                gpc_opt_out=n.gpc_opt_out,
                tcf_purposes=list(n.tcf_purposes),
                min_notice_version=n.min_notice_version,
                consent_lifetime_days=n.consent_lifetime_days,
                sale_or_sharing=n.sale_or_sharing,
                cookies=list(n.cookies),
            )
            for n in notices_for(active.policy, resolved, asked)
        ]
        used = {p.language for p in purposes}
        return NoticesOut(
            policy_version=active.version,
            jurisdiction=resolved,
            jurisdiction_source=source,
            language=used.pop() if len(used) == 1 else asked,
            gpc_honoured=gpc_honoured(active.policy, resolved),
            controller=active.policy.controller.name,
            policy_url=active.policy.controller.policy_url,
            purposes=purposes,
        )
