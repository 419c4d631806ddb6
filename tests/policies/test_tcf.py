"""Decoding IAB TCF v2 TC strings: published strings, round trips, and refusals.

The published strings come with the values their sources state. The round trips go through a
small encoder written here from the specification's field table, so random field values can be
checked without trusting the decoder to judge itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    MAX_TC_STRING_LENGTH,
    PolicyError,
    PublisherRestriction,
    PublisherTC,
    RestrictionType,
    TCString,
    TCStringInvalid,
    decode_tc_string,
)

# From InteractiveAdvertisingBureau/iabtcf-java, TCStringV2Test.testCanConstructTCModelFromBase64String
# (made with the IAB's own encoder at iabtcf.com).
IAB_JAVA_CORE = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"

# From iabtcf-java, TCStringV2Test.testCanParseDisclosedAndAllowedVendors, less its allowed vendors segment.
IAB_JAVA_DISCLOSED = (
    "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA.IBAgAAAgAIAwgAgAAAAEAAAACA"
)

# From iabtcf-java, TCStringV2Test.testRange and testCanParseRangeEncodedVendorLegitimateInterests.
IAB_JAVA_TWO_RANGES = (
    "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAA"
    "AGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw"
)
IAB_JAVA_ONE_RANGE = (
    "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAQFfgUbABAUaAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBA"
    "AgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw"
)
IAB_JAVA_RANGED_LI = "COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA"

# From iabtcf-java, TCStringV2Test.testPublisherPurposes: its hand-written publisher TC bits,
# base64url-encoded with `=` padding as that test does.
IAB_JAVA_PUBLISHER_TC = IAB_JAVA_CORE + ".cAAAAAAAITg="

# From InteractiveAdvertisingBureau/iabtcf-es, ReportedIssues.test.ts, issue 201: a restriction
# names some vendors more than once.
IAB_ES_ISSUE_201 = (
    "CO4VGswO4VGswAfZCBDEAzCsAP_AAH_AAAigGUNf_X9fb2vj-_599_t0eY1f9_63t-wzjheMs-8NyZ-X_J4Wv2MyvB34JqQKGRgkunLBAQdtHGncTQg"
    "BwIlViTLMY02MjzNKJrJEilsbe2dYGH9vn8XT_ZKZ70-_v__7v3___33_5Ayhr_6_r7e18f3_Pvv9ujzGr_v_W9v2GccLxln3huTPy_5PC1-xmV4O_BN"
    "SBQyMEl05YICDto407iaEAOBEqsSZZjGmxkeZpRNZIkUtjb2zrAw_t8_i6f7JTPen39___d-___--__ICgKAOAAcAA4AFAAjgB6AEYALcGACAW0AtoJA"
    "HAAOAAcACgARwA9ACMAFuFABALaAW0GgDgAHAAOABQAI4AegBGAC3DgAgFtALaEQBwADgAHAAoAEcAPQAjABbiQAQC2gFtCoA4ABwADgAUACOAHoARgAtx"
    "YAIBbQC2hkAcAA4ABwAKABHAD0AIwAW40AEAtoBbQ6AOAAcAA4AFAAjgB6AEYALceACAW0AtohAHAAOAAcACgARwA9ACMAFuRABALaAW0SgDgAHAAOABQ"
    "AI4AegBGAC3JgAgFtALaKQBwADgAHAAoAEcAPQAjABblQAQC2gFtA"
)

# From iabtcf-es, ReportedIssues.test.ts, issue 142: the vendor bit field is shorter than its
# MaxVendorId says, and the official decoder throws.
IAB_ES_ISSUE_142 = (
    "CLSYjTaOngnCIAOABBENAXCMAGOAABBAAA7IA5n-m7fP6_3fbqVv6E__PoA5Aqff3aJx8tv_1967rfnQEQoAIAAQCrwkAEABAcACABIMACAAuApEVAB"
    "ABUSABgBCAVSAtIoACACIArYQAHACgAFgAVwBJgDcAI7AWgMAAgBiKgAgBMgFfKQAQBRkQAQA4AFiBAAoA-AEVAJlAVgAtYcACAJcAr4eABAK8OgBg"
    "FzAOmAqwgABAWyA.IFukWSQh"
)

# From iabtcf-es, ReportedIssues.test.ts, issue 156: a TCF v1 string.
IAB_ES_VERSION_1 = (
    "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9yfk1-5ctDztp507iakivXmqdeb9v"
    "_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA"
)

# The example in Adobe's Experience Platform Web SDK consent documentation, decoded in the
# synopsis of the GDPR::IAB::TCFv2 Perl module on CPAN; it has a publisher TC segment.
ADOBE_EXAMPLE = "CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA.argAC0gAAAAAAAAAAAA"

PUBLISHED = (
    IAB_JAVA_CORE,
    IAB_JAVA_DISCLOSED,
    IAB_JAVA_TWO_RANGES,
    IAB_JAVA_ONE_RANGE,
    IAB_JAVA_RANGED_LI,
    IAB_JAVA_PUBLISHER_TC,
    IAB_ES_ISSUE_201,
    ADOBE_EXAMPLE,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


# --- A test-only encoder, from the specification's field table ---

RESTRICTION_CODES = {
    RestrictionType.NOT_ALLOWED: 0,
    RestrictionType.REQUIRE_CONSENT: 1,
    RestrictionType.REQUIRE_LEGITIMATE_INTEREST: 2,
}


def uint(value: int, width: int) -> str:
    assert 0 <= value < 1 << width
    return format(value, f"0{width}b")


def id_bits(ids: tuple[int, ...], width: int) -> str:
    return "".join("1" if index in ids else "0" for index in range(1, width + 1))


def letter_bits(letters: str) -> str:
    return "".join(uint(ord(letter) - ord("A"), 6) for letter in letters)


def moment_bits(moment: datetime) -> str:
    return uint((moment - EPOCH) // timedelta(milliseconds=100), 36)


def runs(ids: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Sorted ids as ranges of consecutive ids."""
    ranges: list[tuple[int, int]] = []
    for vendor_id in ids:
        if ranges and ranges[-1][1] == vendor_id - 1:
            ranges[-1] = (ranges[-1][0], vendor_id)
        else:
            ranges.append((vendor_id, vendor_id))
    return tuple(ranges)


def range_bits(ranges: tuple[tuple[int, int], ...]) -> str:
    entries = (
        "0" + uint(first, 16) if first == last else "1" + uint(first, 16) + uint(last, 16) for first, last in ranges
    )
    return uint(len(ranges), 12) + "".join(entries)


def vendor_bits(ids: tuple[int, ...], *, ranged: bool, spare: int = 0) -> str:
    """A vendor section; `spare` raises MaxVendorId above the largest id."""
    max_vendor_id = (ids[-1] if ids else 0) + spare
    if ranged:
        return uint(max_vendor_id, 16) + "1" + range_bits(runs(ids))
    return uint(max_vendor_id, 16) + "0" + id_bits(ids, max_vendor_id)


def fixed_core_bits(tc: TCString) -> str:
    """The core segment up to PublisherCC: every field of fixed width."""
    return "".join(
        (
            uint(tc.version, 6),
            moment_bits(tc.created),
            moment_bits(tc.last_updated),
            uint(tc.cmp_id, 12),
            uint(tc.cmp_version, 12),
            uint(tc.consent_screen, 6),
            letter_bits(tc.consent_language),
            uint(tc.vendor_list_version, 12),
            uint(tc.tcf_policy_version, 6),
            uint(tc.is_service_specific, 1),
            uint(tc.use_non_standard_texts, 1),
            id_bits(tc.special_feature_opt_ins, 12),
            id_bits(tc.purposes_consent, 24),
            id_bits(tc.purposes_li_transparency, 24),
            uint(tc.purpose_one_treatment, 1),
            letter_bits(tc.publisher_cc),
        )
    )


def restriction_bits(restrictions: tuple[PublisherRestriction, ...]) -> str:
    return uint(len(restrictions), 12) + "".join(
        uint(restriction.purpose_id, 6)
        + uint(RESTRICTION_CODES[restriction.restriction_type], 2)
        + range_bits(restriction.vendor_ranges)
        for restriction in restrictions
    )


def core_bits(tc: TCString, *, ranged: bool = False, spare: int = 0) -> str:
    return (
        fixed_core_bits(tc)
        + vendor_bits(tc.vendor_consents, ranged=ranged, spare=spare)
        + vendor_bits(tc.vendor_legitimate_interests, ranged=not ranged, spare=spare)
        + restriction_bits(tc.publisher_restrictions)
    )


def publisher_tc_bits(publisher: PublisherTC) -> str:
    count = publisher.custom_purpose_count
    return (
        "011"
        + id_bits(publisher.purposes_consent, 24)
        + id_bits(publisher.purposes_li_transparency, 24)
        + uint(count, 6)
        + id_bits(publisher.custom_purposes_consent, count)
        + id_bits(publisher.custom_purposes_li_transparency, count)
    )


def to_base64url(bits: str) -> str:
    """Bits padded with zeros to whole bytes, as the official encoders do, in unpadded base64url."""
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encode(tc: TCString, *, ranged: bool = False, spare: int = 0) -> str:
    segments = [to_base64url(core_bits(tc, ranged=ranged, spare=spare))]
    if tc.disclosed_vendors is not None:
        segments.append(to_base64url("001" + vendor_bits(tc.disclosed_vendors, ranged=ranged, spare=spare)))
    if tc.publisher_tc is not None:
        segments.append(to_base64url(publisher_tc_bits(tc.publisher_tc)))
    return ".".join(segments)


# --- Strategies ---


def id_sets(maximum: int, max_size: int | None = None) -> st.SearchStrategy[tuple[int, ...]]:
    if maximum == 0:
        return st.just(())
    return st.frozensets(st.integers(1, maximum), max_size=max_size).map(lambda ids: tuple(sorted(ids)))


moments = st.integers(0, (1 << 36) - 1).map(lambda deciseconds: EPOCH + timedelta(milliseconds=100 * deciseconds))
two_letters = st.text(string.ascii_uppercase, min_size=2, max_size=2)
vendor_ids = id_sets(2000, max_size=30)

restrictions = st.builds(
    PublisherRestriction,
    purpose_id=st.integers(1, 63),
    restriction_type=st.sampled_from(RestrictionType),
    vendor_ranges=vendor_ids.map(runs),
)


@st.composite
def publisher_tcs(draw: st.DrawFn) -> PublisherTC:
    count = draw(st.integers(0, 63))
    return PublisherTC(
        purposes_consent=draw(id_sets(24)),
        purposes_li_transparency=draw(id_sets(24)),
        custom_purpose_count=count,
        custom_purposes_consent=draw(id_sets(count)),
        custom_purposes_li_transparency=draw(id_sets(count)),
    )


def tc_strings(vendors: st.SearchStrategy[tuple[int, ...]] = vendor_ids) -> st.SearchStrategy[TCString]:
    return st.builds(
        TCString,
        version=st.just(2),
        created=moments,
        last_updated=moments,
        cmp_id=st.integers(0, 4095),
        cmp_version=st.integers(0, 4095),
        consent_screen=st.integers(0, 63),
        consent_language=two_letters,
        vendor_list_version=st.integers(0, 4095),
        tcf_policy_version=st.integers(0, 63),
        is_service_specific=st.booleans(),
        use_non_standard_texts=st.booleans(),
        special_feature_opt_ins=id_sets(12),
        purposes_consent=id_sets(24),
        purposes_li_transparency=id_sets(24),
        purpose_one_treatment=st.booleans(),
        publisher_cc=two_letters,
        vendor_consents=vendors,
        vendor_legitimate_interests=vendors,
        publisher_restrictions=st.lists(restrictions, max_size=4).map(tuple),
        disclosed_vendors=st.none() | vendors,
        publisher_tc=st.none() | publisher_tcs(),
    )


SAMPLE = TCString(
    version=2,
    created=datetime(2025, 6, 1, tzinfo=UTC),
    last_updated=datetime(2025, 6, 2, 8, 30, 0, 500_000, tzinfo=UTC),
    cmp_id=300,
    cmp_version=5,
    consent_screen=1,
    consent_language="DE",
    vendor_list_version=120,
    tcf_policy_version=4,
    is_service_specific=True,
    use_non_standard_texts=False,
    special_feature_opt_ins=(1,),
    purposes_consent=(1, 2, 7),
    purposes_li_transparency=(2, 7, 10),
    purpose_one_treatment=False,
    publisher_cc="DE",
    vendor_consents=(1, 2, 3, 755),
    vendor_legitimate_interests=(755,),
    publisher_restrictions=(),
)
"""A hand-built TCF v2.2 value (policy version 4) for the refusal tests to start from."""


# --- Published strings ---


def test_a_core_string_decodes_to_the_values_the_iab_encoder_put_in() -> None:
    assert decode_tc_string(IAB_JAVA_CORE) == TCString(
        version=2,
        created=datetime(2020, 1, 26, 17, 1, tzinfo=UTC),
        last_updated=datetime(2021, 2, 2, 17, 1, tzinfo=UTC),
        cmp_id=675,
        cmp_version=2,
        consent_screen=1,
        consent_language="EN",
        vendor_list_version=15,
        tcf_policy_version=2,
        is_service_specific=False,
        use_non_standard_texts=False,
        special_feature_opt_ins=(1,),
        purposes_consent=(2, 10),
        purposes_li_transparency=(2, 9),
        purpose_one_treatment=True,
        publisher_cc="AA",
        vendor_consents=(),
        vendor_legitimate_interests=(),
        publisher_restrictions=(),
    )


def test_bit_field_vendor_sections_and_disclosed_vendors_decode() -> None:
    tc = decode_tc_string(IAB_JAVA_DISCLOSED)

    assert tc.purposes_consent == (3, 4, 5, 6, 7, 8, 9)
    assert tc.vendor_consents == (23, 37, 47, 48, 53, 65, 98)
    assert tc.vendor_legitimate_interests == (37, 47, 48, 53, 65, 98, 129)
    assert tc.disclosed_vendors == (23, 37, 47, 48, 53, 65, 98, 129)
    assert tc.publisher_tc is None


@pytest.mark.parametrize(
    ("text", "consents"),
    [(IAB_JAVA_TWO_RANGES, (702, 703)), (IAB_JAVA_ONE_RANGE, (703,))],
    ids=["two-entries", "one-range"],
)
def test_range_encoded_vendor_consents_decode(text: str, consents: tuple[int, ...]) -> None:
    assert decode_tc_string(text).vendor_consents == consents


def test_range_encoded_legitimate_interests_decode() -> None:
    assert decode_tc_string(IAB_JAVA_RANGED_LI).vendor_legitimate_interests == (128,)


def test_a_publisher_tc_segment_decodes_with_its_custom_purposes() -> None:
    assert decode_tc_string(IAB_JAVA_PUBLISHER_TC).publisher_tc == PublisherTC(
        purposes_consent=(1,),
        purposes_li_transparency=(24,),
        custom_purpose_count=2,
        custom_purposes_consent=(2,),
        custom_purposes_li_transparency=(1, 2),
    )


def test_a_restriction_that_names_vendors_twice_lists_each_once() -> None:
    tc = decode_tc_string(IAB_ES_ISSUE_201)

    first = tc.publisher_restrictions[0]
    assert (first.purpose_id, first.restriction_type) == (1, RestrictionType.REQUIRE_CONSENT)
    assert first.vendor_ranges == ((7, 7), (20, 20), (71, 71), (122, 122), (140, 140), (183, 183))


def test_the_adobe_example_decodes_to_the_values_cpan_documents() -> None:
    tc = decode_tc_string(ADOBE_EXAMPLE)

    assert (tc.version, tc.cmp_id, tc.cmp_version, tc.consent_screen) == (2, 21, 7, 2)
    assert (tc.consent_language, tc.vendor_list_version) == ("EN", 23)
    assert tc.created == datetime.fromtimestamp(1228644257.7, UTC)
    assert tc.last_updated == datetime.fromtimestamp(1326215413.4, UTC)
    assert tc.purposes_consent == (1, 3, 9, 10)
    assert tc.publisher_tc is not None


def test_the_summary_holds_the_proof_in_json_values() -> None:
    summary = decode_tc_string(IAB_JAVA_DISCLOSED).to_summary()

    assert summary == {
        "version": 2,
        "cmp_id": 2,
        "created": "2019-12-04T18:53:00Z",
        "last_updated": "2019-12-10T18:53:00Z",
        "vendor_list_version": 7,
        "tcf_policy_version": 2,
        "purposes_consent": [3, 4, 5, 6, 7, 8, 9],
        "vendor_consent_count": 7,
    }
    assert json.loads(json.dumps(summary)) == summary


def test_a_decoded_string_encodes_to_json_with_msgspec() -> None:
    tc = decode_tc_string(IAB_ES_ISSUE_201)

    assert msgspec.json.decode(msgspec.json.encode(tc), type=TCString) == tc


# --- Round trips through the test encoder ---


def test_a_hand_built_tcf_2_2_string_round_trips() -> None:
    text = encode(SAMPLE)

    assert decode_tc_string(text) == SAMPLE
    assert decode_tc_string(text).to_summary()["tcf_policy_version"] == 4


@given(tc=tc_strings(), ranged=st.booleans(), spare=st.integers(0, 3))
def test_any_encoded_value_decodes_to_itself(tc: TCString, ranged: bool, spare: int) -> None:
    assert decode_tc_string(encode(tc, ranged=ranged, spare=spare)) == tc


@given(tc=tc_strings())
def test_the_order_of_the_optional_segments_does_not_matter(tc: TCString) -> None:
    core, *optional = encode(tc).split(".")

    assert decode_tc_string(".".join([core, *reversed(optional)])) == tc


def test_equal_padding_at_the_end_of_a_segment_is_accepted() -> None:
    core = encode(SAMPLE)
    padded = core + "=" * (-len(core) % 4)

    assert padded != core
    assert decode_tc_string(padded) == SAMPLE


def test_restriction_ranges_are_merged_and_answer_membership() -> None:
    overlapping = ((10, 20), (15, 30), (31, 31), (40, 40))
    bits = restriction_bits(
        (PublisherRestriction(purpose_id=2, restriction_type=RestrictionType.NOT_ALLOWED, vendor_ranges=overlapping),)
    )
    text = to_base64url(fixed_core_bits(SAMPLE) + vendor_bits((), ranged=False) * 2 + bits)

    (restriction,) = decode_tc_string(text).publisher_restrictions

    assert restriction.vendor_ranges == ((10, 31), (40, 40))
    assert [vendor for vendor in (9, 10, 25, 31, 32, 40, 41) if restriction.applies_to(vendor)] == [10, 25, 31, 40]


def test_restrictions_naming_every_vendor_stay_small() -> None:
    everyone = PublisherRestriction(
        purpose_id=1, restriction_type=RestrictionType.NOT_ALLOWED, vendor_ranges=((1, 65535),)
    )
    text = encode(msgspec.structs.replace(SAMPLE, publisher_restrictions=(everyone,) * 4000))

    assert len(text) <= MAX_TC_STRING_LENGTH
    assert decode_tc_string(text).publisher_restrictions == (everyone,) * 4000


def test_overlapping_vendor_ranges_decode_to_each_vendor_once() -> None:
    section = uint(65535, 16) + "1" + range_bits(((1, 65535),) * 4095)
    text = to_base64url(fixed_core_bits(SAMPLE) + section + vendor_bits((), ranged=False) + uint(0, 12))

    assert decode_tc_string(text).vendor_consents == tuple(range(1, 65536))


# --- Refusals ---


def core_with(vendor_consents_bits: str, *, restrictions: str = uint(0, 12)) -> str:
    """SAMPLE's core segment with a hand-written vendor consent section."""
    return to_base64url(fixed_core_bits(SAMPLE) + vendor_consents_bits + vendor_bits((), ranged=False) + restrictions)


CORE = encode(SAMPLE)

REFUSED = {
    "empty": ("", "the TC string is empty"),
    "too-long": ("A" * (MAX_TC_STRING_LENGTH + 1), f"the limit is {MAX_TC_STRING_LENGTH}"),
    "space": (CORE + " ", f"character {len(CORE) + 1} is ' '"),
    "standard-base64": (CORE[:5] + "+" + CORE[6:], "'-' and '_' where base64 has '+' and '/'"),
    "not-ascii": ("é" + CORE, "character 1 is 'é'"),
    "stray-character": (CORE + "A" * ((1 - len(CORE)) % 4), "stray character"),
    "misplaced-padding": (CORE + "====", "misplaced '=' padding"),
    "padding-inside": (CORE[:8] + "=" + CORE[9:], "character 9 is '='"),
    "version-1": (IAB_ES_VERSION_1, "version 1 is not supported"),
    "version-3": (to_base64url(uint(3, 6) + fixed_core_bits(SAMPLE)[6:]), "version 3 is not supported"),
    "short-bit-field": (IAB_ES_ISSUE_142, "segment 2 is truncated: it ends inside DisclosedVendors"),
    "no-vendor-sections": (
        to_base64url(fixed_core_bits(SAMPLE)),
        "truncated: it ends inside VendorConsents.MaxVendorId",
    ),
    "language-not-letters": (
        to_base64url(fixed_core_bits(SAMPLE)[:108] + uint(26, 6) + core_bits(SAMPLE)[114:]),
        "ConsentLanguage in the core segment is not two letters",
    ),
    "range-backwards": (
        core_with(uint(20, 16) + "1" + uint(1, 12) + "1" + uint(9, 16) + uint(5, 16)),
        "before its start 9",
    ),
    "range-past-max": (
        core_with(uint(10, 16) + "1" + uint(1, 12) + "0" + uint(11, 16)),
        "above VendorConsents.MaxVendorId 10",
    ),
    "vendor-zero": (core_with(uint(10, 16) + "1" + uint(1, 12) + "0" + uint(0, 16)), "starts at vendor id 0"),
    "restriction-type-3": (
        core_with(vendor_bits((), ranged=False), restrictions=uint(1, 12) + uint(1, 6) + "11" + uint(0, 12)),
        "publisher restriction 1 has the undefined restriction type 3",
    ),
    "restriction-purpose-0": (
        core_with(vendor_bits((), ranged=False), restrictions=uint(1, 12) + uint(0, 6) + "00" + uint(0, 12)),
        "publisher restriction 1 has purpose id 0",
    ),
    "data-after-core": (to_base64url(core_bits(SAMPLE) + "0001"), "the core segment has data after its last field"),
    "empty-segment": (CORE + ".", "segment 2 is empty"),
    "empty-middle-segment": (CORE + ".." + to_base64url("001" + vendor_bits((1,), ranged=False)), "segment 2 is empty"),
    "second-core": (CORE + "." + CORE, "segment 2 has unknown segment type 0"),
    "unknown-type": (CORE + "." + to_base64url("101" + "0" * 13), "segment 2 has unknown segment type 5"),
    "allowed-vendors": (CORE + "." + to_base64url("010" + vendor_bits((1,), ranged=False)), "allowed vendors"),
    "disclosed-twice": (
        ".".join(
            [
                CORE,
                to_base64url("001" + vendor_bits((1,), ranged=False)),
                to_base64url("001" + vendor_bits((2,), ranged=True)),
            ]
        ),
        "segment 3 repeats the disclosed vendors segment",
    ),
    "publisher-tc-twice": (
        ".".join([CORE, to_base64url("011" + "0" * 54), to_base64url("011" + "0" * 54)]),
        "segment 3 repeats the publisher TC segment",
    ),
}


@pytest.mark.parametrize(("text", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_malformed_string_is_refused_with_the_problem_named(text: str, message: str) -> None:
    with pytest.raises(TCStringInvalid) as refused:
        decode_tc_string(text)

    assert message in str(refused.value)
    assert len(text) < 8 or text not in str(refused.value)


def test_the_refusal_is_a_value_error_and_a_policy_error() -> None:
    assert issubclass(TCStringInvalid, ValueError)
    assert issubclass(TCStringInvalid, PolicyError)


@pytest.mark.parametrize("text", PUBLISHED)
def test_every_prefix_of_a_published_string_decodes_the_same_core_or_is_refused(text: str) -> None:
    whole = msgspec.structs.replace(decode_tc_string(text), disclosed_vendors=None, publisher_tc=None)
    for length in range(len(text)):
        try:
            prefix = decode_tc_string(text[:length])
        except TCStringInvalid:
            continue
        assert msgspec.structs.replace(prefix, disclosed_vendors=None, publisher_tc=None) == whole


@settings(max_examples=40)
@given(tc=tc_strings(id_sets(300, max_size=10)), ranged=st.booleans())
def test_a_core_segment_cut_inside_its_fields_is_refused(tc: TCString, ranged: bool) -> None:
    bits = core_bits(tc, ranged=ranged)
    text = to_base64url(bits)
    for length in range(len(text)):
        if 6 * length < len(bits):
            with pytest.raises(TCStringInvalid):
                decode_tc_string(text[:length])


@given(st.text(max_size=300))
def test_any_text_decodes_or_is_refused(text: str) -> None:
    with contextlib.suppress(TCStringInvalid):
        decode_tc_string(text)


@given(st.text(BASE64URL + ".", min_size=1, max_size=300))
def test_any_base64url_text_decodes_or_is_refused(text: str) -> None:
    with contextlib.suppress(TCStringInvalid):
        decode_tc_string(text)


@given(text=st.sampled_from(PUBLISHED), data=st.data())
def test_any_corruption_of_a_published_string_decodes_or_is_refused(text: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(text) - 1))
    corrupted = text[:index] + data.draw(st.sampled_from(BASE64URL + ".=")) + text[index + 1 :]
    with contextlib.suppress(TCStringInvalid):
        decode_tc_string(corrupted)
