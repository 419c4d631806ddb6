"""What a consent banner must show in a jurisdiction, in a language."""

from __future__ import annotations

import msgspec

from policies._codes import Jurisdiction, LegalBasis, PurposeCategory, Regime
from policies._decisions import regime_for
from policies._model import NoticeText, Policy, Purpose

__all__ = ["FALLBACK_LANGUAGE", "Notice", "gpc_honoured", "notices_for"]

FALLBACK_LANGUAGE = "en"
"""Shown when a purpose has no text in the requested language; every purpose has it."""


class Notice(msgspec.Struct, kw_only=True, frozen=True):
    """One purpose as a banner shows it."""

    purpose_id: str
    title: str
    text: str
    lang: str
    """The language `title` and `text` are in: the requested one, or the fallback."""
    notice_version: int
    """Recorded with the choice, so the choice can be matched to the text the subject saw."""
    regime: Regime | None
    """`opt_in`: off until switched on; `opt_out`: on until switched off (or objected to);
    `None`: shown for information, no choice applies."""
    legal_basis: LegalBasis
    category: PurposeCategory
    gpc_opt_out: bool
    """Global Privacy Control switches this purpose off here."""
    tcf_purposes: tuple[int, ...]
    min_notice_version: int
    """A choice made under an older notice no longer counts: the banner asks again."""
    consent_lifetime_days: int | None
    """How long a grant lasts; the banner asks again after it (`None`: no expiry)."""
    sale_or_sharing: bool
    cookies: tuple[str, ...]
    """First-party cookies the purpose sets, deleted by the banner when it is refused (`name*`: a prefix)."""


def notices_for(policy: Policy, jurisdiction: Jurisdiction, lang: str) -> list[Notice]:
    """The notices of every purpose, in policy order, for a banner in `jurisdiction`.

    `lang` is a BCP 47 tag; `ja-JP` falls back to `ja`, and a language the policy lacks to `en`.
    """
    rules = policy.jurisdictions[jurisdiction]
    notices = []
    for purpose in policy.purposes.values():
        used, text = _text_in(purpose, lang)
        notices.append(
            Notice(
                purpose_id=purpose.id,
                title=text.title,
                text=text.text,
                lang=used,
                notice_version=purpose.notice_version,
                regime=regime_for(purpose, rules),
                legal_basis=purpose.legal_basis,
                category=purpose.category,
                gpc_opt_out=rules.gpc_opt_out and purpose.sale_or_sharing,
                tcf_purposes=purpose.tcf_purposes,
                min_notice_version=purpose.min_notice_version,
                consent_lifetime_days=purpose.consent_lifetime_days,
                sale_or_sharing=purpose.sale_or_sharing,
                cookies=purpose.cookies,
            )
        )
    return notices


def gpc_honoured(policy: Policy, jurisdiction: Jurisdiction) -> bool:
    """Whether Global Privacy Control counts as an opt-out of sale or sharing in `jurisdiction`."""
    return policy.jurisdictions[jurisdiction].gpc_opt_out


def _text_in(purpose: Purpose, lang: str) -> tuple[str, NoticeText]:
    texts = purpose.text
    primary = lang.split("-", 1)[0].lower()
    for candidate in (lang, primary):
        if candidate in texts:
            return candidate, texts[candidate]
    return FALLBACK_LANGUAGE, texts[FALLBACK_LANGUAGE]
