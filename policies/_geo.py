"""Which jurisdiction's rules apply, from the country and region a geo header reports."""

from __future__ import annotations

from policies._codes import Jurisdiction

__all__ = ["GDPR_COUNTRIES", "US_STATE_REGIONS", "resolve_jurisdiction"]

GDPR_COUNTRIES = frozenset(
    {
        # EU member states; Greece also as EL, the code EU institutions use.
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU"),
        *("IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        # The rest of the EEA.
        *("IS", "LI", "NO"),
        # The United Kingdom (UK GDPR); UK is not ISO 3166 but is commonly sent.
        *("GB", "UK"),
    }
)
"""Countries where the GDPR (or the UK GDPR) applies."""

US_STATE_REGIONS = frozenset({"CO", "VA", "CT"})
"""US states whose laws the `us_state` rules model (ISO 3166-2 subdivision codes)."""

_COUNTRY_RULES = {"JP": Jurisdiction.APPI, "BR": Jurisdiction.LGPD}


def resolve_jurisdiction(
    country: str | None, region: str | None, *, us_states: frozenset[str] = US_STATE_REGIONS
) -> Jurisdiction:
    """The jurisdiction for a country (ISO 3166-1 alpha-2, e.g. from `CF-IPCountry`) and region.

    `region` may be the subdivision alone (`CA`) or with its country (`US-CA`); case and
    surrounding space are ignored. Unknown, missing or placeholder values (`XX`, `T1`) give
    `default`, never an error: a header is untrusted input.
    """
    code = (country or "").strip().upper()
    if code in GDPR_COUNTRIES:
        return Jurisdiction.GDPR
    if code == "US":
        subdivision = (region or "").strip().upper().removeprefix("US-")
        if subdivision == "CA":
            return Jurisdiction.CCPA
        if subdivision in us_states:
            return Jurisdiction.US_STATE
        return Jurisdiction.DEFAULT
    return _COUNTRY_RULES.get(code, Jurisdiction.DEFAULT)
