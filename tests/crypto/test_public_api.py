"""The public surface of `crypto` is exactly what `__all__` says."""

from __future__ import annotations

import crypto

EXPECTED = {
    "BLIND_INDEX_LENGTHS",
    "FIELD_OVERHEAD",
    "DEVICE_ID_PATTERN",
    "IDENTIFIER_KINDS",
    "LINK_NONCE_BYTES",
    "CryptoError",
    "DataKey",
    "DecryptionFailed",
    "IdentifierKind",
    "IndexKey",
    "InvalidIdentifier",
    "JsonWebKey",
    "JsonWebKeySet",
    "KeyMaterialError",
    "KeyProvider",
    "LocalKeyProvider",
    "MasterKeyRing",
    "PublicKeySet",
    "Redacted",
    "SigningKey",
    "SigningKeyRing",
    "SubjectId",
    "UnknownKeyVersion",
    "VerificationFailed",
    "WEBHOOK_SIGNATURE_SCHEME",
    "WrappedDataKey",
    "blind_index",
    "decrypt_field",
    "decrypt_field_text",
    "encrypt_field",
    "generate_index_key_text",
    "generate_master_key_entry",
    "generate_master_key_file_text",
    "generate_signing_key_entry",
    "generate_signing_key_file_text",
    "jwks",
    "link_token",
    "link_token_hash",
    "new_data_key",
    "new_link_nonce",
    "normalise_identifier",
    "parse_index_key",
    "parse_master_key_file",
    "parse_master_keys",
    "parse_signing_key_file",
    "parse_signing_keys",
    "public_keys_from_jwks",
    "sign_jws",
    "sign_webhook",
    "verify_jws",
    "verify_webhook",
}


def test_all_is_pinned() -> None:
    assert set(crypto.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    missing = [name for name in crypto.__all__ if not hasattr(crypto, name)]

    assert missing == []


def test_nothing_public_is_left_out_of_all() -> None:
    public = {name for name in vars(crypto) if not name.startswith("_")}

    assert public == set(crypto.__all__)
