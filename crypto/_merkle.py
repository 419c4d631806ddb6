"""Merkle trees as in RFC 6962 / RFC 9162 §2.1: roots and inclusion proofs over a list of leaves.

Leaves and interior nodes are hashed with distinct one-byte prefixes (``0x00`` and
``0x01``), so no interior node can be passed off as a leaf (second-preimage
resistance). The tree over ``n`` leaves splits at ``k``, the largest power of two
below ``n``, which makes the root of a given list unique.

>>> leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")]
>>> proof = inclusion_proof(leaves, 2)
>>> verify_inclusion(leaves[2], 2, 3, proof, merkle_root(leaves))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["EMPTY_ROOT", "inclusion_proof", "leaf_hash", "merkle_root", "node_hash", "verify_inclusion"]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes (``leaf_hash`` of each entry), in order; ``EMPTY_ROOT`` for none."""
    if not leaves:
        return EMPTY_ROOT
    # Bottom-up, pairing neighbours and carrying an odd last node up unchanged: the same
    # tree as RFC 6962's top-down definition (left subtrees are always full), without recursion.
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 6962 §2.1.1), sibling hashes from the leaf upwards."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(merkle_root(leaves[lo : lo + k]))
            lo += k
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """True when ``path`` proves leaf hash ``leaf`` is at ``index`` of the tree of ``size`` with ``root``.

    The algorithm of RFC 9162 §2.1.3.2; any malformed input is simply False.
    """
    if not 0 <= index < size:
        return False
    fn, sn, hashed = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            hashed = node_hash(sibling, hashed)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            hashed = node_hash(hashed, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hashed == root
