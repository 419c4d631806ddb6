"""Merkle trees (RFC 6962): the root and every inclusion proof agree with the recursive definition."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from crypto import EMPTY_ROOT, inclusion_proof, leaf_hash, merkle_root, node_hash, verify_inclusion

leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True).map(
    lambda data: [leaf_hash(d) for d in data]
)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, as written: MTH(D[n]) = H(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k < n the largest power of 2."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_known_answers() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle_root([a, b, c]) == hashlib.sha256(b"\x01" + node_hash(a, b) + c).digest()
    assert merkle_root([]) == EMPTY_ROOT


@given(leaves_st)
def test_the_root_matches_the_recursive_definition(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == reference_root(leaves)


@given(leaves_st, st.data())
def test_every_leaf_proves_its_inclusion(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, merkle_root(leaves))
    assert len(proof) <= (len(leaves) - 1).bit_length()


@given(leaves_st, st.data())
def test_a_proof_holds_for_nothing_else(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    root = merkle_root(leaves)
    other = data.draw(st.integers(0, len(leaves))) if len(leaves) > 1 else len(leaves)
    if other != index:
        assert not verify_inclusion(leaves[index], other, len(leaves), proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), index, len(leaves), proof, root)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bent = [*proof[:position], bytes(32), *proof[position + 1 :]]
        assert not verify_inclusion(leaves[index], index, len(leaves), bent, root)
        assert not verify_inclusion(leaves[index], index, len(leaves), proof[:-1], root)


@given(leaves_st)
def test_a_leaf_is_never_an_interior_node(leaves: list[bytes]) -> None:
    """Domain separation: the root of two leaves differs from the leaf hash of their concatenation."""
    if len(leaves) >= 2:
        assert merkle_root(leaves[:2]) != leaf_hash(leaves[0] + leaves[1])
