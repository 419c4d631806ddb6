"""Pure cryptography for the consent service: keys, envelopes, blind indexes, receipts.

Nothing here reads files, the environment, the network or the clock; the service
passes key text in and stores what comes out. See docs/security.md for the design.

- Master key ring and key providers: `parse_master_keys`, `LocalKeyProvider`.
- Data keys and field encryption: `new_data_key`, `encrypt_field`, `decrypt_field`.
- Blind indexes: `parse_index_key`, `blind_index`.
- Receipts: `parse_signing_keys`, `sign_jws`, `verify_jws`, `jwks`.
- Webhook signatures: `sign_webhook`, `verify_webhook`.
- Download links: `new_link_nonce`, `link_token`, `link_token_hash`.
- Plaintext hygiene: `Redacted`.
"""

from crypto._blind_index import (
    BLIND_INDEX_LENGTHS,
    IndexKey,
    blind_index,
    generate_index_key_text,
    parse_index_key,
)
from crypto._data_key import DataKey, WrappedDataKey, new_data_key
from crypto._encoding import SubjectId
from crypto._envelope import FIELD_OVERHEAD, decrypt_field, decrypt_field_text, encrypt_field
from crypto._errors import (
    CryptoError,
    DecryptionFailed,
    InvalidIdentifier,
    KeyMaterialError,
    UnknownKeyVersion,
    VerificationFailed,
)
from crypto._identifiers import DEVICE_ID_PATTERN, IDENTIFIER_KINDS, IdentifierKind, normalise_identifier
from crypto._jwks import JsonWebKey, JsonWebKeySet, PublicKeySet, public_keys_from_jwks
from crypto._jws import jwks, sign_jws, verify_jws
from crypto._key_provider import KeyProvider, LocalKeyProvider
from crypto._link_tokens import LINK_NONCE_BYTES, link_token, link_token_hash, new_link_nonce
from crypto._master_keys import (
    MasterKeyRing,
    generate_master_key_entry,
    generate_master_key_file_text,
    parse_master_key_file,
    parse_master_keys,
)
from crypto._redacted import Redacted
from crypto._signing_keys import (
    SigningKey,
    SigningKeyRing,
    generate_signing_key_entry,
    generate_signing_key_file_text,
    parse_signing_key_file,
    parse_signing_keys,
)
from crypto._webhook import WEBHOOK_SIGNATURE_SCHEME, sign_webhook, verify_webhook

__all__ = [
    "BLIND_INDEX_LENGTHS",
    "DEVICE_ID_PATTERN",
    "FIELD_OVERHEAD",
    "IDENTIFIER_KINDS",
    "LINK_NONCE_BYTES",
    "WEBHOOK_SIGNATURE_SCHEME",
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
]
