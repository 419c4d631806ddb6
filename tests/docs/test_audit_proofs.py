"""The offline verifier in docs/security.md runs, and accepts exactly the proofs `consent audit proof` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from consent.service.audit import AuditEntry, record_many
from consent.service.audit_sealing import Sealer
from consent.service.audit_verification import prove_entry
from consent.store.pool import Connection
from crypto import generate_signing_key_entry, jwks, parse_signing_keys

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
KEYS = parse_signing_keys(generate_signing_key_entry("audit-doc"))


@pytest.fixture(scope="module")
def documented() -> dict[str, Any]:
    """The namespace the doc's verifier defines."""
    section = DOC.read_text(encoding="utf-8").split("### Verifying an entry offline", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "audit_proof_example"}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


async def proofs(conn: Connection, count: int) -> list[dict[str, Any]]:
    """Proofs, as the CLI prints them, of `count` sealed entries."""
    entries = [
        AuditEntry(actor="key:doc", action="doc.test", target={"n": n}, detail={"café": "ü"}) for n in range(count)
    ]
    await record_many(conn, entries)
    sealer = Sealer(KEYS)
    for _ in range(3):  # a fresh sealer may need a round to see its horizon pass
        await sealer.seal(conn)
    ids = await conn.fetch("SELECT id FROM audit_log ORDER BY position")
    return [json.loads(msgspec.json.encode(await prove_entry(conn, row["id"]))) for row in ids]


async def test_the_documented_verifier_accepts_every_entry_of_a_checkpoint(
    documented: dict[str, Any], conn: Connection
) -> None:
    for n, proof in enumerate(await proofs(conn, 7)):
        entry = documented["verify_proof"](proof, jwks(KEYS))
        assert entry["target"] == {"n": n}


@pytest.mark.parametrize("change", ["entry", "path", "index", "checkpoint", "keys"])
async def test_the_documented_verifier_refuses_a_changed_proof(
    documented: dict[str, Any], conn: Connection, change: str
) -> None:
    proof = (await proofs(conn, 5))[2]
    keys = jwks(KEYS)
    if change == "entry":
        proof["entry"] = proof["entry"].replace("doc.test", "doc.tesT")
    elif change == "path":
        proof["path"][0] = "00" * 32
    elif change == "index":
        proof["leaf_index"] = 3
    elif change == "checkpoint":
        header, payload, signature = proof["checkpoint"].split(".")
        proof["checkpoint"] = f"{header}.{payload[:-2]}AA.{signature}"
    else:
        keys = jwks(parse_signing_keys(generate_signing_key_entry("audit-doc")))
    with pytest.raises(documented["InvalidProof"]):
        documented["verify_proof"](proof, keys)
