"""Comparing two policies: what changed and who must be asked again."""

from __future__ import annotations

from policies import Jurisdiction, NoticeChange, Policy, PurposeChange, ReconsentRequired, diff_policies, parse_policy
from tests.policies.samples import MINIMAL_POLICY

PERSONALISATION = """
[purposes.personalisation]
legal_basis = "consent"
category = "personalisation"
data_categories = ["usage"]
subject_categories = ["visitors"]
consent_lifetime_days = 365
notice_version = 1
min_notice_version = 1
text.en = { title = "Recommendations", text = "Recommends products." }
text.ja = { title = "おすすめ", text = "商品をおすすめします。" }
"""


def policy(text: str) -> Policy:
    return parse_policy(text, source="test.toml")


def test_a_policy_does_not_differ_from_itself(shop: Policy) -> None:
    assert diff_policies(shop, shop).empty


def test_added_and_removed_purposes_are_listed(minimal: Policy) -> None:
    bigger = policy(MINIMAL_POLICY + PERSONALISATION)
    assert diff_policies(minimal, bigger).purposes_added == ("personalisation",)
    assert diff_policies(bigger, minimal).purposes_removed == ("personalisation",)


def test_a_new_notice_version_is_listed_without_forcing_re_consent(minimal: Policy) -> None:
    diff = diff_policies(minimal, policy(MINIMAL_POLICY.replace("notice_version = 2", "notice_version = 3")))
    assert diff.notices_reversioned == (NoticeChange(purpose_id="analytics", old_version=2, new_version=3),)
    assert diff.reconsent_required == ()


def test_raising_the_minimum_notice_version_requires_re_consent(minimal: Policy) -> None:
    diff = diff_policies(minimal, policy(MINIMAL_POLICY.replace("min_notice_version = 1", "min_notice_version = 2")))
    assert diff.reconsent_required == (
        ReconsentRequired(purpose_id="analytics", old_min_notice_version=1, min_notice_version=2),
    )


def test_lowering_the_minimum_requires_no_re_consent(minimal: Policy) -> None:
    raised = policy(MINIMAL_POLICY.replace("min_notice_version = 1", "min_notice_version = 2"))
    assert diff_policies(raised, minimal).reconsent_required == ()


def test_other_changes_to_a_purpose_are_named_by_field(minimal: Policy) -> None:
    changed = policy(
        MINIMAL_POLICY.replace("consent_lifetime_days = 365", "consent_lifetime_days = 180").replace(
            "Measures how the site is used.", "Counts visits."
        )
    )
    assert diff_policies(minimal, changed).purposes_changed == (
        PurposeChange(purpose_id="analytics", fields=("text", "consent_lifetime_days")),
    )


def test_changed_jurisdictions_recipients_retention_and_controller_are_listed(minimal: Policy) -> None:
    changed = policy(
        MINIMAL_POLICY.replace("parental_consent_age = 12", "parental_consent_age = 13")
        .replace('name = "Warehouse"', 'name = "Data warehouse"')
        .replace("personal_data_days = 395", "personal_data_days = 400")
        .replace('name = "Minimal Ltd"', 'name = "Minimal plc"')
    )
    diff = diff_policies(minimal, changed)
    assert diff.jurisdictions_changed == (Jurisdiction.LGPD,)
    assert diff.recipients_changed == ("warehouse",)
    assert diff.retention_changed == ("usage",)
    assert diff.controller_changed
