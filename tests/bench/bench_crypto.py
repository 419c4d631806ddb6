"""Throughput of the crypto hot paths, to check "a field costs microseconds".

Run: ``.venv/bin/python tests/bench/bench_crypto.py [--seconds 1.0]``. Each
operation runs in a tight loop for the given time, three times; the best run is
reported, since slower runs measure the machine's other work, not ours.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable

from crypto import (
    LocalKeyProvider,
    blind_index,
    decrypt_field_text,
    encrypt_field,
    generate_index_key_text,
    generate_master_key_file_text,
    generate_signing_key_file_text,
    new_data_key,
    parse_index_key,
    parse_master_key_file,
    parse_signing_key_file,
    sign_jws,
    verify_jws,
)

SUBJECT = str(uuid.uuid4())
DEVICE_ID = "d_7Hq2xYzLmN4pQrS9tUvWx0"  # 128 random bits, as the snippet makes them
RECEIPT = (
    b'{"receipt_id":"0190b6d2-5c7e-7a1b-9c3d-4e5f60718293","schema":"iso27560-1","subject_id":"'
    + SUBJECT.encode()
    + b'","controller":"shop","jurisdiction":"gdpr","method":"banner","timestamp":"2025-05-01T12:00:00Z",'
    b'"language":"ja","policy_version":4,"policy_url":"https://shop.example/privacy","purposes":['
    b'{"purpose":"analytics","legal_basis":"consent","notice_version":3,"status":"granted",'
    b'"expires_at":"2026-05-01T12:00:00Z"},{"purpose":"marketing_email","legal_basis":"consent",'
    b'"notice_version":2,"status":"denied","expires_at":null}]}'
)
BATCH = 1_000


def measure(operation: Callable[[], object], seconds: float) -> float:
    """Best-of-three operations per second of ``operation``."""
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(BATCH // 10):
                operation()
            count += BATCH // 10
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def measure_async(provider: LocalKeyProvider, seconds: float) -> float:
    """Best-of-three awaited unwraps per second, inside a running event loop."""
    wrapped = provider.ring.wrap(new_data_key(), subject_id=SUBJECT)

    async def run() -> float:
        best = 0.0
        for _ in range(3):
            count = 0
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                for _ in range(BATCH // 10):
                    await provider.unwrap_data_key(wrapped, subject_id=SUBJECT)
                count += BATCH // 10
            best = max(best, count / (time.perf_counter() - start))
        return best

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per operation (default 1.5)")
    seconds: float = parser.parse_args().seconds

    key = new_data_key()
    provider = LocalKeyProvider(parse_master_key_file(generate_master_key_file_text()))
    wrapped = provider.ring.wrap(key, subject_id=SUBJECT)
    index_key = parse_index_key(generate_index_key_text())
    signing = parse_signing_key_file(generate_signing_key_file_text())
    public_keys = signing.public_keys
    email = "Ada.Lovelace@Example.org"
    blob = encrypt_field(key, email, subject_id=SUBJECT, table="personal_records", field="email")
    token = sign_jws(RECEIPT, signing)

    def encrypt() -> bytes:
        return encrypt_field(key, email, subject_id=SUBJECT, table="personal_records", field="email")

    def decrypt() -> object:
        return decrypt_field_text(key, blob, subject_id=SUBJECT, table="personal_records", field="email")

    def round_trip() -> object:
        return decrypt_field_text(key, encrypt(), subject_id=SUBJECT, table="personal_records", field="email")

    rows: list[tuple[str, float]] = [
        ("field encrypt + decrypt (24-byte email)", measure(round_trip, seconds)),
        ("  field encrypt", measure(encrypt, seconds)),
        ("  field decrypt", measure(decrypt, seconds)),
        ("blind index: email (normalise + HMAC)", measure(lambda: blind_index(index_key, "email", email), seconds)),
        ("blind index: user_id", measure(lambda: blind_index(index_key, "user_id", "u-4242"), seconds)),
        ("blind index: device_id", measure(lambda: blind_index(index_key, "device_id", DEVICE_ID), seconds)),
        (
            "blind index: phone (libphonenumber + HMAC)",
            measure(lambda: blind_index(index_key, "phone", "+1 650-253-0000"), seconds),
        ),
        (
            f"Ed25519 sign + verify ({len(RECEIPT)}-byte receipt)",
            measure(lambda: verify_jws(sign_jws(RECEIPT, signing), public_keys), seconds),
        ),
        ("  sign_jws", measure(lambda: sign_jws(RECEIPT, signing), seconds)),
        ("  verify_jws", measure(lambda: verify_jws(token, public_keys), seconds)),
        ("data key wrap", measure(lambda: provider.ring.wrap(key, subject_id=SUBJECT), seconds)),
        ("data key unwrap", measure(lambda: provider.ring.unwrap(wrapped, subject_id=SUBJECT), seconds)),
        ("data key unwrap (awaited LocalKeyProvider)", measure_async(provider, seconds)),
    ]

    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {'ops/s':>10}  {'µs/op':>8}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 8}")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>10,.0f}  {1e6 / rate:>8.2f}")


if __name__ == "__main__":
    main()
