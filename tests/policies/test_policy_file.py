"""Loading policy files: the shipped example validates, and a bad file lists all its problems."""

from __future__ import annotations

import msgspec
import pytest

from policies import (
    Jurisdiction,
    LegalBasis,
    Period,
    PeriodUnit,
    PersonalField,
    Policy,
    PolicyError,
    PolicyInvalid,
    Problem,
    PurposeCategory,
    RequestType,
    parse_policy,
    policy_digest,
)
from tests.policies.samples import MINIMAL_POLICY

SHOP_PURPOSES = (
    "strictly_necessary",
    "analytics",
    "personalisation",
    "marketing_email",
    "advertising",
    "partner_sharing",
)


def problems_in(text: str) -> list[tuple[str, str]]:
    """The (path, message) of every problem `parse_policy` reports for `text`."""
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(text, source="test.toml")
    return [(problem.path, problem.message) for problem in refused.value.problems]


def paths_in(text: str) -> list[str]:
    return [path for path, _ in problems_in(text)]


def edited(old: str, new: str) -> str:
    """The minimal policy with one exact piece of text replaced."""
    assert old in MINIMAL_POLICY
    return MINIMAL_POLICY.replace(old, new, 1)


def without_section(text: str, section: str) -> str:
    """`text` without the tables of `section`."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.startswith(f"[{section}.")
        if not inside:
            kept.append(line)
    return "\n".join(kept)


# The shipped example.


def test_shop_example_declares_the_purposes_the_service_relies_on(shop: Policy) -> None:
    assert set(SHOP_PURPOSES) <= shop.purposes.keys()


def test_shop_example_has_an_english_and_a_japanese_notice_for_every_purpose(shop: Policy) -> None:
    for purpose in shop.purposes.values():
        assert {"en", "ja"} <= purpose.text.keys(), purpose.id


def test_shop_example_partner_sharing_is_sale_under_ccpa_and_provision_abroad_under_appi(shop: Policy) -> None:
    partner_sharing = shop.purposes["partner_sharing"]
    assert partner_sharing.sale_or_sharing
    assert partner_sharing.third_party_countries == {"US"}
    assert "US" not in (shop.jurisdictions[Jurisdiction.APPI].equivalent_countries or ())


def test_shop_example_declares_every_jurisdiction(shop: Policy) -> None:
    assert shop.jurisdictions.keys() == set(Jurisdiction)


def test_minimal_policy_parses(minimal: Policy) -> None:
    assert minimal.purposes["analytics"].legal_basis is LegalBasis.CONSENT
    assert minimal.recipients["warehouse"].id == "warehouse"
    assert minimal.jurisdictions[Jurisdiction.GDPR].code is Jurisdiction.GDPR


# Statutory deadlines fill what the file leaves out.


def test_deadlines_left_out_of_the_file_are_the_statutory_ones(minimal: Policy) -> None:
    ccpa = minimal.jurisdictions[Jurisdiction.CCPA].deadlines
    assert ccpa.default.acknowledge == Period(count=10, unit=PeriodUnit.BUSINESS_DAYS)
    assert ccpa.for_request(RequestType.OPT_OUT).respond == Period(count=15, unit=PeriodUnit.BUSINESS_DAYS)


def test_a_declared_deadline_field_overrides_only_that_field() -> None:
    text = edited(
        "minor_opt_in_age = 16\n",
        'minor_opt_in_age = 16\n[jurisdictions.ccpa.deadlines.default]\nrespond = { count = 30, unit = "days" }\n',
    )
    default = parse_policy(text, source="test.toml").jurisdictions[Jurisdiction.CCPA].deadlines.default
    assert default.respond == Period(count=30, unit=PeriodUnit.DAYS)
    assert default.acknowledge == Period(count=10, unit=PeriodUnit.BUSINESS_DAYS)


# Every problem is reported, with its source and key path.


BROKEN_POLICY = """
surprise = true

[controller]
name = "Broken"
contact = ""
policy_url = "http://broken.example"
security_measures = ["none"]

[purposes.analytics]
legal_basis = "consnet"
category = "analytics"
data_categories = ["usage", "nowhere"]
subject_categories = ["visitors"]
consent_lifetime_days = -30
notice_version = 1
min_notice_version = 3
tcf_purposes = [0, 12]

[purposes.analytics.text.en]
title = "Analytics"
text = "Counts visits."

[jurisdictions.gdrp]
default_regime = "opt_in"
gpc_opt_out = true
parental_consent_age = 16

[retention.usage]
personal_data_days = 30
consent_proof_days = 30

[recipients.partner]
name = "Partner"
webhook_url = "https://partner.example/hooks"
secret_env = "PARTNER_SECRET"
purposes = ["ghost"]
country = "US"
third_party = true
"""


def test_a_broken_file_lists_every_problem_not_just_the_first() -> None:
    assert set(paths_in(BROKEN_POLICY)) == {
        "surprise",
        "controller.contact",
        "controller.policy_url",
        "purposes.analytics.legal_basis",
        "purposes.analytics.consent_lifetime_days",
        "purposes.analytics.min_notice_version",
        "purposes.analytics.tcf_purposes[0]",
        "purposes.analytics.tcf_purposes[1]",
        "purposes.analytics.text",
        "purposes.analytics.data_categories",
        "jurisdictions.gdrp",
        *(f"jurisdictions.{code.value}" for code in Jurisdiction),
        "recipients.partner.purposes",
    }


def test_every_problem_names_the_source() -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(BROKEN_POLICY, source="policies/broken.toml")
    assert {problem.source for problem in refused.value.problems} == {"policies/broken.toml"}


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(BROKEN_POLICY, source="broken.toml")
    message = str(refused.value)
    assert all(str(problem) in message for problem in refused.value.problems)


def test_policy_invalid_is_a_policy_error() -> None:
    assert issubclass(PolicyInvalid, PolicyError)


def test_a_problem_reads_as_source_path_message() -> None:
    problem = Problem(source="shop.toml", path="purposes.analytics", message="is wrong")
    assert str(problem) == "shop.toml: purposes.analytics: is wrong"


def test_text_that_is_not_toml_is_one_problem_for_the_whole_file() -> None:
    [(path, message)] = problems_in("[controller\nname = 1")
    assert path == ""
    assert message.startswith("not valid TOML")


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        pytest.param(
            "consent_lifetime_days = 365",
            "consent_lifetime_days = -1",
            "purposes.analytics.consent_lifetime_days",
            ">= 1",
            id="negative lifetime",
        ),
        pytest.param(
            "min_notice_version = 1",
            "min_notice_version = 3",
            "purposes.analytics.min_notice_version",
            "above",
            id="min above current",
        ),
        pytest.param(
            '[purposes.analytics.text.ja]\ntitle = "アクセス解析"',
            '[purposes.analytics.text.fr]\ntitle = "Audience"',
            "purposes.analytics.text",
            "'ja'",
            id="missing ja",
        ),
        pytest.param(
            "[jurisdictions.lgpd]",
            "[jurisdictions.lgdp]",
            "jurisdictions.lgdp",
            "unknown jurisdiction",
            id="unknown jurisdiction",
        ),
        pytest.param(
            "[jurisdictions.lgpd]", "[jurisdictions.lgdp]", "jurisdictions.lgpd", "missing", id="missing jurisdiction"
        ),
        pytest.param(
            'purposes = ["analytics"]',
            'purposes = ["analytics", "ghost"]',
            "recipients.warehouse.purposes",
            "'ghost'",
            id="unknown purpose at recipient",
        ),
        pytest.param(
            'data_categories = ["usage"]',
            'data_categories = ["usage", "location"]',
            "purposes.analytics.data_categories",
            "'location'",
            id="data category without retention",
        ),
        pytest.param(
            'category = "analytics"',
            'category = "analytic"',
            "purposes.analytics.category",
            "not one of",
            id="unknown category",
        ),
        pytest.param(
            "notice_version = 2",
            "notice_version = 2\nnotice_colour = 2",
            "purposes.analytics.notice_colour",
            "unknown key",
            id="unknown key",
        ),
        pytest.param(
            "consent_lifetime_days = 365\n",
            "",
            "purposes.analytics.consent_lifetime_days",
            "required",
            id="consent without lifetime",
        ),
        pytest.param(
            "[purposes.analytics]\n",
            '[purposes.analytics]\nid = "other"\n',
            "purposes.analytics.id",
            "table name",
            id="id written in table",
        ),
        pytest.param(
            "[purposes.analytics]",
            "[purposes.Analytics]",
            "purposes.Analytics",
            "lower_snake_case",
            id="id not snake case",
        ),
        pytest.param(
            'secret_env = "WAREHOUSE_SECRET"',
            'secret_env = "WAREHOUSE_SECRET"\nsecret = "hunter2"',
            "recipients.warehouse.secret",
            "environment variable",
            id="secret in file",
        ),
        pytest.param(
            "https://warehouse.minimal.example/hooks",
            "http://warehouse.minimal.example/hooks",
            "recipients.warehouse.webhook_url",
            "https",
            id="plain http webhook",
        ),
        pytest.param(
            'country = "DE"', 'country = "de"', "recipients.warehouse.country", "regex", id="lowercase country"
        ),
        pytest.param(
            "third_party = false",
            "third_party = true",
            "recipients.warehouse.country",
            "third_party_countries",
            id="third party country not in notice",
        ),
        pytest.param(
            'equivalent_countries = ["JP", "GB"]\n',
            "",
            "jurisdictions.appi.equivalent_countries",
            "required for appi",
            id="appi without equivalent countries",
        ),
        pytest.param(
            "minor_opt_in_age = 16",
            "minor_opt_in_age = 10",
            "jurisdictions.ccpa.minor_opt_in_age",
            "below parental_consent_age",
            id="minor age below parental age",
        ),
        pytest.param(
            "parental_consent_age = 12",
            "parental_consent_age = 40",
            "jurisdictions.lgpd.parental_consent_age",
            "<= 21",
            id="age out of range",
        ),
        pytest.param(
            "gpc_opt_out = false\nparental_consent_age = 12",
            'gpc_opt_out = "no"\nparental_consent_age = 12',
            "jurisdictions.lgpd.gpc_opt_out",
            "bool",
            id="wrong type",
        ),
        pytest.param(
            "[retention.usage]",
            "[retention.usages]",
            "purposes.analytics.data_categories",
            "'usage'",
            id="retention renamed",
        ),
        pytest.param(
            "consent_proof_days = 1825",
            'consent_proof_days = 1825\npersonal_fields = ["email", "nose"]',
            "retention.usage.personal_fields[1]",
            "not one of",
            id="unknown personal field",
        ),
        pytest.param(
            "consent_proof_days = 1825",
            'consent_proof_days = 1825\npersonal_fields = ["email"]\n\n[retention.contact]\n'
            'personal_data_days = 30\nconsent_proof_days = 30\npersonal_fields = ["phone", "email"]',
            "retention.contact.personal_fields",
            "already named in retention.usage",
            id="personal field with two retentions",
        ),
        pytest.param("[controller]\n", "", "controller", "missing required section", id="missing section"),
        pytest.param(
            'policy_url = "https://minimal.example/privacy"',
            'policy_url = "minimal.example/privacy"',
            "controller.policy_url",
            "https",
            id="policy url without https",
        ),
    ],
)
def test_a_single_problem_is_reported_at_its_key_path(old: str, new: str, path: str, fragment: str) -> None:
    problems = problems_in(edited(old, new))
    assert any(where == path and fragment in message for where, message in problems), problems


def test_shop_example_gives_every_personal_field_a_retention(shop: Policy) -> None:
    named = [field for rule in shop.retention.values() for field in rule.personal_fields]
    assert sorted(named) == sorted(PersonalField)


def test_a_local_webhook_may_use_plain_http() -> None:
    text = edited("https://warehouse.minimal.example/hooks", "http://localhost:8080/hooks")
    assert parse_policy(text, source="test.toml").recipients["warehouse"].webhook_url.startswith("http://")


def test_a_strictly_necessary_purpose_cannot_rest_on_consent() -> None:
    text = edited('category = "analytics"', 'category = "necessary"')
    assert ("purposes.analytics.legal_basis") in paths_in(text)


def test_a_purpose_needing_no_choice_cannot_be_sold_or_marketed() -> None:
    text = edited(
        'legal_basis = "consent"', 'legal_basis = "contract"\nsale_or_sharing = true\ndirect_marketing = true'
    )
    assert {"purposes.analytics.sale_or_sharing", "purposes.analytics.direct_marketing"} <= set(paths_in(text))


def test_a_sale_or_sharing_purpose_must_carry_the_flag() -> None:
    text = edited('category = "analytics"', f'category = "{PurposeCategory.SALE_OR_SHARING}"')
    assert "purposes.analytics.sale_or_sharing" in paths_in(text)


def test_necessary_is_not_a_category_a_jurisdiction_can_regulate() -> None:
    text = edited("parental_consent_age = 16\n", 'parental_consent_age = 16\nregimes = { necessary = "opt_in" }\n')
    assert "jurisdictions.gdpr.regimes.necessary" in paths_in(text)


def test_a_file_without_purposes_is_refused() -> None:
    start = MINIMAL_POLICY.index("[purposes.analytics]")
    end = MINIMAL_POLICY.index("[jurisdictions.gdpr]")
    text = MINIMAL_POLICY[:start] + "[purposes]\n" + MINIMAL_POLICY[end:]
    assert "purposes" in paths_in(text)


@pytest.mark.parametrize("section", ["purposes", "jurisdictions", "retention", "recipients"])
def test_a_section_of_the_wrong_type_is_reported_once(section: str) -> None:
    problems = problems_in(f"{section} = 3\n{without_section(MINIMAL_POLICY, section)}")
    assert problems.count((section, "expected a table")) == 1


def test_keys_that_are_not_bare_are_quoted_in_paths() -> None:
    assert 'purposes."web analytics"' in paths_in(edited("[purposes.analytics]", '[purposes."web analytics"]'))


def test_a_complaint_authority_is_optional_and_absent_from_the_canonical_form_when_left_out(minimal: Policy) -> None:
    assert minimal.controller.complaint_authority is None
    with_authority = MINIMAL_POLICY.replace(
        "[controller]\n", '[controller]\ncomplaint_authority = "CNIL, 3 place de Fontenoy, Paris"\n'
    )

    policy = parse_policy(with_authority, source="test.toml")

    assert policy.controller.complaint_authority == "CNIL, 3 place de Fontenoy, Paris"
    assert b"complaint_authority" not in msgspec.json.encode(minimal)
    assert policy_digest(policy) != policy_digest(minimal)
