"""Fixed keys for the crypto tests.

Session-scoped on purpose: every object here is immutable, and hypothesis
refuses function-scoped fixtures in property tests.
"""

from __future__ import annotations

import pytest

from crypto import (
    DataKey,
    IndexKey,
    LocalKeyProvider,
    MasterKeyRing,
    SigningKey,
    SigningKeyRing,
)


@pytest.fixture(scope="session")
def master_ring() -> MasterKeyRing:
    return MasterKeyRing({1: bytes([1]) * 32, 2: bytes([2]) * 32})


@pytest.fixture(scope="session")
def provider(master_ring: MasterKeyRing) -> LocalKeyProvider:
    return LocalKeyProvider(master_ring)


@pytest.fixture(scope="session")
def data_key() -> DataKey:
    return DataKey(bytes(range(32)))


@pytest.fixture(scope="session")
def other_data_key() -> DataKey:
    return DataKey(bytes(range(1, 33)))


@pytest.fixture(scope="session")
def index_key() -> IndexKey:
    return IndexKey(bytes([7]) * 32)


@pytest.fixture(scope="session")
def index_keys() -> tuple[IndexKey, IndexKey, IndexKey]:
    return IndexKey(bytes([8]) * 32), IndexKey(bytes([9]) * 32), IndexKey(bytes([10]) * 32)


@pytest.fixture(scope="session")
def signing_ring() -> SigningKeyRing:
    return SigningKeyRing([SigningKey("2025-b", bytes([3]) * 32), SigningKey("2025-a", bytes([4]) * 32)])
