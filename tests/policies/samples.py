"""Policy texts the tests parse: the shipped example and a minimal valid file."""

from __future__ import annotations

from importlib import resources

MINIMAL_POLICY = """
[controller]
name = "Minimal Ltd"
contact = "privacy@minimal.example"
policy_url = "https://minimal.example/privacy"
security_measures = ["Encryption at rest"]

[purposes.analytics]
legal_basis = "consent"
category = "analytics"
data_categories = ["usage"]
subject_categories = ["visitors"]
consent_lifetime_days = 365
notice_version = 2
min_notice_version = 1

[purposes.analytics.text.en]
title = "Analytics"
text = "Measures how the site is used."

[purposes.analytics.text.ja]
title = "アクセス解析"
text = "サイトの利用状況を測定します。"

[jurisdictions.gdpr]
default_regime = "opt_in"
gpc_opt_out = true
parental_consent_age = 16

[jurisdictions.ccpa]
default_regime = "opt_out"
gpc_opt_out = true
parental_consent_age = 13
minor_opt_in_age = 16

[jurisdictions.us_state]
default_regime = "opt_out"
gpc_opt_out = true
parental_consent_age = 13

[jurisdictions.appi]
default_regime = "opt_out"
gpc_opt_out = false
parental_consent_age = 15
equivalent_countries = ["JP", "GB"]

[jurisdictions.lgpd]
default_regime = "opt_in"
gpc_opt_out = false
parental_consent_age = 12

[jurisdictions.default]
default_regime = "opt_in"
gpc_opt_out = true
parental_consent_age = 16

[retention.usage]
personal_data_days = 395
consent_proof_days = 1825

[recipients.warehouse]
name = "Warehouse"
webhook_url = "https://warehouse.minimal.example/hooks"
secret_env = "WAREHOUSE_SECRET"
purposes = ["analytics"]
country = "DE"
third_party = false
"""
"""A small valid policy; tests derive invalid ones from it by replacing one line."""


def shop_text() -> str:
    """The text of the example policy the service ships and uses by default."""
    return resources.files("policies").joinpath("examples/shop.toml").read_text(encoding="utf-8")
