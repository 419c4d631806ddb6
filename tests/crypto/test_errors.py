"""The error hierarchy callers catch."""

from __future__ import annotations

import pytest

from crypto import (
    CryptoError,
    DecryptionFailed,
    InvalidIdentifier,
    KeyMaterialError,
    UnknownKeyVersion,
    VerificationFailed,
)


@pytest.mark.parametrize(
    "error", [KeyMaterialError, DecryptionFailed, UnknownKeyVersion, InvalidIdentifier, VerificationFailed]
)
def test_every_error_is_a_crypto_error(error: type[CryptoError]) -> None:
    assert issubclass(error, CryptoError)


def test_an_unknown_key_version_is_a_decryption_failure() -> None:
    assert issubclass(UnknownKeyVersion, DecryptionFailed)
