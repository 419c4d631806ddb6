"""Fixtures shared by the policy tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies import Policy, parse_policy
from tests.policies.samples import MINIMAL_POLICY, shop_text


@pytest.fixture(scope="session")
def shop() -> Policy:
    return parse_policy(shop_text(), source="shop.toml")


@pytest.fixture(scope="session")
def minimal() -> Policy:
    return parse_policy(MINIMAL_POLICY, source="minimal.toml")


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
