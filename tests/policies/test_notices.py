"""What a banner shows, per jurisdiction and language."""

from __future__ import annotations

import pytest

from policies import Jurisdiction, Notice, Policy, Regime, gpc_honoured, notices_for


def by_purpose(notices: list[Notice]) -> dict[str, Notice]:
    return {notice.purpose_id: notice for notice in notices}


@pytest.mark.parametrize("jurisdiction", list(Jurisdiction))
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_jurisdiction_has_a_notice_for_every_purpose_in_both_languages(
    shop: Policy, jurisdiction: Jurisdiction, lang: str
) -> None:
    notices = notices_for(shop, jurisdiction, lang)
    assert [notice.purpose_id for notice in notices] == list(shop.purposes)
    assert {notice.lang for notice in notices} == {lang}
    assert all(notice.title and notice.text for notice in notices)


def test_notices_are_in_the_requested_language(shop: Policy) -> None:
    notice = by_purpose(notices_for(shop, Jurisdiction.APPI, "ja"))["analytics"]
    assert notice.title == shop.purposes["analytics"].text["ja"].title


def test_a_regional_tag_falls_back_to_its_language(shop: Policy) -> None:
    assert {notice.lang for notice in notices_for(shop, Jurisdiction.APPI, "ja-JP")} == {"ja"}


def test_a_missing_language_falls_back_to_english(shop: Policy) -> None:
    notices = notices_for(shop, Jurisdiction.LGPD, "pt-BR")
    assert {notice.lang for notice in notices} == {"en"}
    assert by_purpose(notices)["analytics"].text == shop.purposes["analytics"].text["en"].text


def test_notices_carry_the_notice_version_to_record_with_the_choice(shop: Policy) -> None:
    assert by_purpose(notices_for(shop, Jurisdiction.GDPR, "en"))["partner_sharing"].notice_version == 3


@pytest.mark.parametrize(
    ("jurisdiction", "purpose_id", "regime"),
    [
        (Jurisdiction.GDPR, "analytics", Regime.OPT_IN),
        (Jurisdiction.CCPA, "analytics", Regime.OPT_OUT),
        (Jurisdiction.APPI, "partner_sharing", Regime.OPT_IN),
        (Jurisdiction.GDPR, "fraud_prevention", Regime.OPT_OUT),
        (Jurisdiction.GDPR, "strictly_necessary", None),
    ],
)
def test_notices_say_whether_a_purpose_is_opt_in_or_opt_out_there(
    shop: Policy, jurisdiction: Jurisdiction, purpose_id: str, regime: Regime | None
) -> None:
    assert by_purpose(notices_for(shop, jurisdiction, "en"))[purpose_id].regime == regime


def test_notices_mark_the_purposes_gpc_switches_off(shop: Policy) -> None:
    notices = by_purpose(notices_for(shop, Jurisdiction.CCPA, "en"))
    assert {purpose_id for purpose_id, notice in notices.items() if notice.gpc_opt_out} == {
        "advertising",
        "partner_sharing",
    }


def test_no_purpose_is_switched_off_by_gpc_where_it_is_not_honoured(shop: Policy) -> None:
    assert not any(notice.gpc_opt_out for notice in notices_for(shop, Jurisdiction.APPI, "ja"))


@pytest.mark.parametrize(
    ("jurisdiction", "honoured"),
    [(Jurisdiction.CCPA, True), (Jurisdiction.US_STATE, True), (Jurisdiction.APPI, False), (Jurisdiction.LGPD, False)],
)
def test_gpc_honoured(shop: Policy, jurisdiction: Jurisdiction, honoured: bool) -> None:
    assert gpc_honoured(shop, jurisdiction) is honoured
