"""A content hash of a policy, stored beside its version number.

The hash is taken over the validated policy, not the file text: comments, whitespace, key order
and omitted defaults do not change it, while any change to an effective rule does. Two
deployments holding the same digest apply the same rules.
"""

from __future__ import annotations

import hashlib

import msgspec

from policies._model import Policy

__all__ = ["policy_digest"]


def policy_digest(policy: Policy) -> str:
    """The SHA-256 of the policy's canonical JSON encoding, as 64 lowercase hex digits.

    Canonical: msgspec's `order="sorted"` sorts every mapping's keys, every struct's fields and
    every set's members, so the encoding depends only on the policy's content.
    """
    canonical = msgspec.json.encode(policy, order="sorted")
    return hashlib.sha256(canonical).hexdigest()
