"""The content hash stored with each policy version."""

from __future__ import annotations

import re

from policies import Policy, parse_policy, policy_digest
from tests.policies.samples import MINIMAL_POLICY


def digest_of(text: str) -> str:
    return policy_digest(parse_policy(text, source="test.toml"))


def test_the_digest_is_a_sha256_in_hex(minimal: Policy) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", policy_digest(minimal))


def test_the_same_policy_has_the_same_digest(minimal: Policy) -> None:
    assert digest_of(MINIMAL_POLICY) == policy_digest(minimal)


def test_comments_and_layout_do_not_change_the_digest() -> None:
    reformatted = "# The minimal policy.\n" + MINIMAL_POLICY.replace(" = ", "   =   ")
    assert digest_of(reformatted) == digest_of(MINIMAL_POLICY)


def test_the_order_of_tables_does_not_change_the_digest() -> None:
    retention = "[retention.usage]\npersonal_data_days = 395\nconsent_proof_days = 1825\n"
    moved = retention + MINIMAL_POLICY.replace(retention, "")
    assert digest_of(moved) == digest_of(MINIMAL_POLICY)


def test_spelling_out_a_default_does_not_change_the_digest() -> None:
    explicit = MINIMAL_POLICY.replace(
        "parental_consent_age = 12\n",
        'parental_consent_age = 12\ndeadlines.default.respond = { count = 15, unit = "days" }\n',
    )
    assert digest_of(explicit) == digest_of(MINIMAL_POLICY)


def test_any_change_of_rule_changes_the_digest() -> None:
    assert digest_of(MINIMAL_POLICY.replace("consent_lifetime_days = 365", "consent_lifetime_days = 364")) != digest_of(
        MINIMAL_POLICY
    )
