"""The record of processing activities (GDPR Art. 30) generated from the policy."""

from __future__ import annotations

import csv
import io
import json

from policies import LegalBasis, Policy, RopaRecipient, render_ropa_csv, render_ropa_json, ropa_rows


def test_there_is_one_record_per_purpose_in_policy_order(shop: Policy) -> None:
    assert [row.purpose_id for row in ropa_rows(shop)] == list(shop.purposes)


def test_a_record_states_purpose_basis_data_and_subjects(shop: Policy) -> None:
    row = next(row for row in ropa_rows(shop) if row.purpose_id == "marketing_email")
    assert row.purpose == "Marketing email"
    assert row.legal_basis is LegalBasis.CONSENT
    assert row.data_categories == ("contact", "order")
    assert row.data_subjects == ("customers",)


def test_a_record_names_recipients_their_role_and_country(shop: Policy) -> None:
    row = next(row for row in ropa_rows(shop) if row.purpose_id == "partner_sharing")
    assert row.recipients == (RopaRecipient(name="AdPartner Inc.", role="third_party", country="US"),)
    assert row.recipient_countries == ("US",)


def test_a_record_gives_the_retention_of_each_data_category(shop: Policy) -> None:
    row = next(row for row in ropa_rows(shop) if row.purpose_id == "tax_records")
    assert [(r.data_category, r.personal_data_days) for r in row.retention] == [("order", 2555), ("account", 1095)]


def test_every_record_carries_the_security_measures(shop: Policy) -> None:
    assert all(row.security_measures == shop.controller.security_measures for row in ropa_rows(shop))


def test_the_json_record_names_the_controller_and_lists_the_records(shop: Policy) -> None:
    document = json.loads(render_ropa_json(shop))
    assert document["controller"]["name"] == "Example Shop K.K."
    assert len(document["records"]) == len(shop.purposes)
    assert document["records"][0]["legal_basis"] == "contract"


def test_the_csv_record_has_a_header_and_one_line_per_purpose(shop: Policy) -> None:
    rows = list(csv.DictReader(io.StringIO(render_ropa_csv(shop))))
    assert [row["purpose_id"] for row in rows] == list(shop.purposes)
    partner = rows[-1]
    assert partner["recipients"] == "AdPartner Inc. (third_party, US)"
    assert partner["controller"] == "Example Shop K.K."
    assert "online_identifiers: data 395 days, consent proof 1825 days" in partner["retention"]
