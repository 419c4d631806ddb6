"""Resolving the jurisdiction from geo headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import GDPR_COUNTRIES, Jurisdiction, resolve_jurisdiction


@pytest.mark.parametrize(
    ("country", "region", "jurisdiction"),
    [
        ("DE", None, Jurisdiction.GDPR),
        ("FR", "IDF", Jurisdiction.GDPR),
        ("NO", None, Jurisdiction.GDPR),
        ("GB", None, Jurisdiction.GDPR),
        ("US", "CA", Jurisdiction.CCPA),
        ("US", "US-CA", Jurisdiction.CCPA),
        ("us", " ca ", Jurisdiction.CCPA),
        ("US", "CO", Jurisdiction.US_STATE),
        ("US", "VA", Jurisdiction.US_STATE),
        ("US", "US-CT", Jurisdiction.US_STATE),
        ("US", "NY", Jurisdiction.DEFAULT),
        ("US", None, Jurisdiction.DEFAULT),
        ("JP", None, Jurisdiction.APPI),
        ("BR", "SP", Jurisdiction.LGPD),
        ("CH", None, Jurisdiction.DEFAULT),
        ("CA", None, Jurisdiction.DEFAULT),
        ("XX", None, Jurisdiction.DEFAULT),
        ("T1", None, Jurisdiction.DEFAULT),
        (None, None, Jurisdiction.DEFAULT),
        ("", "", Jurisdiction.DEFAULT),
    ],
)
def test_resolve_jurisdiction(country: str | None, region: str | None, jurisdiction: Jurisdiction) -> None:
    assert resolve_jurisdiction(country, region) is jurisdiction


def test_the_eea_and_the_uk_are_gdpr_countries() -> None:
    assert len(GDPR_COUNTRIES - {"EL", "UK"}) == 27 + 3 + 1


def test_the_us_states_modelled_can_be_configured() -> None:
    assert resolve_jurisdiction("US", "TX", us_states=frozenset({"TX"})) is Jurisdiction.US_STATE


@settings(max_examples=50, deadline=None)
@given(st.none() | st.text(max_size=8), st.none() | st.text(max_size=8))
def test_any_header_value_resolves_to_a_jurisdiction(country: str | None, region: str | None) -> None:
    assert resolve_jurisdiction(country, region) in Jurisdiction
