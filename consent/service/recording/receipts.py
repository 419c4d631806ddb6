"""Consent receipts: a signed statement of one recorded choice, verifiable offline.

The payload follows the Kantara Consent Receipt (v1.1) and ISO/IEC TS 27560
fields; it is signed as a compact JWS (EdDSA, Ed25519) whose `kid` is published
at `/.well-known/jwks.json`, so the person, the site or a regulator can check it
without asking us.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from crypto import SigningKeyRing, sign_jws
from policies import Policy

__all__ = ["RECEIPT_SCHEMA", "ReceiptPurpose", "sign_receipt"]

RECEIPT_SCHEMA = "consent-receipt/1.1 (Kantara CR v1.1, ISO/IEC TS 27560)"
_encode = msgspec.json.encode


class ReceiptPurpose(msgspec.Struct, kw_only=True, frozen=True):
    purpose: str
    legal_basis: str
    notice_version: int
    status: str
    expires_at: datetime | None
    data_categories: tuple[str, ...]
    third_party_disclosure: bool


class ReceiptController(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    contact: str
    url: str


class Receipt(msgspec.Struct, kw_only=True, frozen=True):
    receipt_id: UUID
    schema_version: str
    subject_id: UUID
    controller: ReceiptController
    jurisdiction: str
    collection_method: str
    timestamp: datetime
    language: str | None
    property: str
    policy_version: int
    policy_url: str
    purposes: list[ReceiptPurpose]
    # Registered JWT claims, so generic JWT tooling can read the receipt too.
    jti: str
    sub: str
    iat: int


def sign_receipt(
    ring: SigningKeyRing,
    policy: Policy,
    *,
    receipt_id: UUID,
    subject_id: UUID,
    policy_version: int,
    jurisdiction: str,
    collection_method: str,
    recorded_at: datetime,
    language: str | None,
    property_id: str,
    purposes: list[ReceiptPurpose],
) -> str:
    controller = policy.controller
    receipt = Receipt(
        receipt_id=receipt_id,
        schema_version=RECEIPT_SCHEMA,
        subject_id=subject_id,
        controller=ReceiptController(name=controller.name, contact=controller.contact, url=controller.policy_url),
        jurisdiction=jurisdiction,
        collection_method=collection_method,
        timestamp=recorded_at,
        language=language,
        property=property_id,
        policy_version=policy_version,
        policy_url=controller.policy_url,
        purposes=purposes,
        jti=str(receipt_id),
        sub=str(subject_id),
        iat=int(recorded_at.timestamp()),
    )
    return sign_jws(_encode(receipt), ring, typ="JWT")
