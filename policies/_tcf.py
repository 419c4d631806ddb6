"""Decode IAB TCF v2.2 TC strings, so a consent record can keep the signal a website sent.

A TC string is one or more base64url segments joined by `.`. The first is the core segment;
each later one starts with a 3-bit type: 1 for disclosed vendors, 3 for the publisher's own
purposes. Fields are big-endian bit fields packed with no alignment, so the decoder turns each
segment into a string of '0' and '1' once and slices it: linear in the input, whatever its shape.

    tc = decode_tc_string("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA")
    tc.cmp_id, tc.purposes_consent  # (675, (2, 10))

`decode_tc_string` is total: for any `str` it returns a `TCString` or raises `TCStringInvalid`,
whose message names the problem and never repeats the input.

PolicyError
└── TCStringInvalid   also a ValueError
"""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

import msgspec

from policies._errors import PolicyError

__all__ = [
    "MAX_TC_STRING_LENGTH",
    "PublisherRestriction",
    "PublisherTC",
    "RestrictionType",
    "TCString",
    "TCStringInvalid",
    "decode_tc_string",
]

MAX_TC_STRING_LENGTH: Final = 64 * 1024
"""The longest text `decode_tc_string` reads; real strings are a few hundred characters."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SIX_BITS = {ord(char): format(value, "06b") for value, char in enumerate(_ALPHABET)}
_NOT_BASE64URL = re.compile(r"[^A-Za-z0-9_-]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUPPORTED_VERSION = 2
_DISCLOSED_VENDORS = 1
_ALLOWED_VENDORS = 2
_PUBLISHER_TC = 3


class TCStringInvalid(PolicyError, ValueError):
    """A TC string was refused; the message says what is wrong with it."""


class RestrictionType(StrEnum):
    """What a publisher restriction demands of the vendors it names."""

    NOT_ALLOWED = "not_allowed"
    REQUIRE_CONSENT = "require_consent"
    REQUIRE_LEGITIMATE_INTEREST = "require_legitimate_interest"


# Indexed by the 2-bit code on the wire; code 3 is undefined and refused.
_RESTRICTION_TYPES = (
    RestrictionType.NOT_ALLOWED,
    RestrictionType.REQUIRE_CONSENT,
    RestrictionType.REQUIRE_LEGITIMATE_INTEREST,
)


class PublisherRestriction(msgspec.Struct, kw_only=True, frozen=True):
    """A publisher's restriction of one purpose for some vendors."""

    purpose_id: int
    restriction_type: RestrictionType
    vendor_ranges: tuple[tuple[int, int], ...]
    """Inclusive `(first, last)` vendor id ranges, sorted and merged. Ranges, not ids: a few
    bytes of input may name every vendor id, for each of hundreds of restrictions."""

    def applies_to(self, vendor_id: int) -> bool:
        """Whether this restriction names `vendor_id`."""
        index = bisect_right(self.vendor_ranges, vendor_id, key=lambda pair: pair[0]) - 1
        return index >= 0 and self.vendor_ranges[index][1] >= vendor_id


class PublisherTC(msgspec.Struct, kw_only=True, frozen=True):
    """The publisher TC segment: the publisher's own legal bases for its processing."""

    purposes_consent: tuple[int, ...]
    purposes_li_transparency: tuple[int, ...]
    custom_purpose_count: int
    """How many custom purposes the publisher declared (ids 1 to this)."""
    custom_purposes_consent: tuple[int, ...]
    custom_purposes_li_transparency: tuple[int, ...]


class TCString(msgspec.Struct, kw_only=True, frozen=True):
    """A decoded TC string. Every tuple of ids is sorted and without repeats."""

    version: int
    created: datetime
    """UTC, to the decisecond."""
    last_updated: datetime
    """UTC, to the decisecond."""
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    """Two capital letters, such as "EN"."""
    vendor_list_version: int
    tcf_policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: tuple[int, ...]
    """Special feature ids, 1 to 12."""
    purposes_consent: tuple[int, ...]
    """Purpose ids, 1 to 24."""
    purposes_li_transparency: tuple[int, ...]
    """Purpose ids, 1 to 24."""
    purpose_one_treatment: bool
    publisher_cc: str
    """Two capital letters, such as "DE"."""
    vendor_consents: tuple[int, ...]
    vendor_legitimate_interests: tuple[int, ...]
    publisher_restrictions: tuple[PublisherRestriction, ...]
    disclosed_vendors: tuple[int, ...] | None = None
    """`None` when the string has no disclosed vendors segment."""
    publisher_tc: PublisherTC | None = None
    """`None` when the string has no publisher TC segment."""

    def to_summary(self) -> dict[str, int | str | list[int]]:
        """The few facts worth keeping with a consent event as proof, as JSON-ready values."""
        summary: dict[str, int | str | list[int]] = msgspec.to_builtins(
            {
                "version": self.version,
                "cmp_id": self.cmp_id,
                "created": self.created,
                "last_updated": self.last_updated,
                "vendor_list_version": self.vendor_list_version,
                "tcf_policy_version": self.tcf_policy_version,
                "purposes_consent": list(self.purposes_consent),
                "vendor_consent_count": len(self.vendor_consents),
            }
        )
        return summary


def decode_tc_string(text: str) -> TCString:
    """Decode a TC string, or raise `TCStringInvalid` saying what is wrong with it.

    Trailing zero bits that pad a segment to whole characters are allowed, and so is `=`
    padding at the end of a segment, which some encoders still write.
    """
    if not text:
        raise TCStringInvalid("the TC string is empty")
    if len(text) > MAX_TC_STRING_LENGTH:
        raise TCStringInvalid(f"the TC string is {len(text)} characters long; the limit is {MAX_TC_STRING_LENGTH}")
    core_text, *later = text.split(".")
    core_reader = _Reader(core_text, "the core segment", offset=0)
    tc = _core(core_reader)
    core_reader.end()
    offset = len(core_text) + 1
    for number, segment_text in enumerate(later, start=2):
        reader = _Reader(segment_text, f"segment {number}", offset)
        offset += len(segment_text) + 1
        kind = reader.uint(3, "SegmentType")
        if kind == _DISCLOSED_VENDORS:
            if tc.disclosed_vendors is not None:
                raise TCStringInvalid(f"segment {number} repeats the disclosed vendors segment")
            tc = msgspec.structs.replace(tc, disclosed_vendors=_vendor_section(reader, "DisclosedVendors"))
        elif kind == _PUBLISHER_TC:
            if tc.publisher_tc is not None:
                raise TCStringInvalid(f"segment {number} repeats the publisher TC segment")
            tc = msgspec.structs.replace(tc, publisher_tc=_publisher_tc(reader))
        elif kind == _ALLOWED_VENDORS:
            raise TCStringInvalid(f"segment {number} is an allowed vendors segment (type 2), which is not accepted")
        else:
            raise TCStringInvalid(f"segment {number} has unknown segment type {kind}")
        reader.end()
    return tc


class _Reader:
    """Reads the fields of one segment in order, naming the segment and field in any error."""

    def __init__(self, text: str, segment: str, offset: int) -> None:
        self._segment = segment
        self._bits = _bits(text, segment, offset)
        self._position = 0

    def _take(self, width: int, field: str) -> str:
        end = self._position + width
        if end > len(self._bits):
            raise TCStringInvalid(f"{self._segment} is truncated: it ends inside {field}")
        chunk = self._bits[self._position : end]
        self._position = end
        return chunk

    def uint(self, width: int, field: str) -> int:
        return int(self._take(width, field), 2)

    def flag(self, field: str) -> bool:
        return self._take(1, field) == "1"

    def ids(self, width: int, field: str) -> tuple[int, ...]:
        """The ids whose bit is set in a `width`-bit field; the first bit is id 1."""
        return tuple(index for index, bit in enumerate(self._take(width, field), start=1) if bit == "1")

    def moment(self, field: str) -> datetime:
        return _EPOCH + timedelta(milliseconds=100 * self.uint(36, field))

    def letters(self, field: str) -> str:
        first, second = self.uint(6, field), self.uint(6, field)
        if first > 25 or second > 25:
            raise TCStringInvalid(f"{field} in {self._segment} is not two letters")
        return chr(ord("A") + first) + chr(ord("A") + second)

    def end(self) -> None:
        """Refuse anything but zero padding after the last field."""
        if "1" in self._bits[self._position :]:
            raise TCStringInvalid(f"{self._segment} has data after its last field")


def _bits(text: str, segment: str, offset: int) -> str:
    """The bits of one base64url segment, six to a character, most significant first."""
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if not body:
        raise TCStringInvalid(f"{segment} is empty")
    if bad := _NOT_BASE64URL.search(body):
        hint = " (TC strings use '-' and '_' where base64 has '+' and '/')" if bad.group() in "+/" else ""
        raise TCStringInvalid(
            f"{segment} is not base64url: character {offset + bad.start() + 1} is {bad.group()!r}{hint}"
        )
    if len(body) % 4 == 1:
        raise TCStringInvalid(f"{segment} is not base64url: its length leaves a stray character")
    if padding and padding != -len(body) % 4:
        raise TCStringInvalid(f"{segment} is not base64url: it has misplaced '=' padding")
    return body.translate(_SIX_BITS)


def _core(reader: _Reader) -> TCString:
    version = reader.uint(6, "Version")
    if version != _SUPPORTED_VERSION:
        raise TCStringInvalid(f"version {version} is not supported; expected {_SUPPORTED_VERSION}")
    # Keyword arguments are evaluated in the order written, which is the order on the wire.
    return TCString(
        version=version,
        created=reader.moment("Created"),
        last_updated=reader.moment("LastUpdated"),
        cmp_id=reader.uint(12, "CmpId"),
        cmp_version=reader.uint(12, "CmpVersion"),
        consent_screen=reader.uint(6, "ConsentScreen"),
        consent_language=reader.letters("ConsentLanguage"),
        vendor_list_version=reader.uint(12, "VendorListVersion"),
        tcf_policy_version=reader.uint(6, "TcfPolicyVersion"),
        is_service_specific=reader.flag("IsServiceSpecific"),
        use_non_standard_texts=reader.flag("UseNonStandardTexts"),
        special_feature_opt_ins=reader.ids(12, "SpecialFeatureOptIns"),
        purposes_consent=reader.ids(24, "PurposesConsent"),
        purposes_li_transparency=reader.ids(24, "PurposesLITransparency"),
        purpose_one_treatment=reader.flag("PurposeOneTreatment"),
        publisher_cc=reader.letters("PublisherCC"),
        vendor_consents=_vendor_section(reader, "VendorConsents"),
        vendor_legitimate_interests=_vendor_section(reader, "VendorLegitimateInterests"),
        publisher_restrictions=_publisher_restrictions(reader),
    )


def _vendor_section(reader: _Reader, name: str) -> tuple[int, ...]:
    """A MaxVendorId, then a bit field of that many vendors or a list of ranges."""
    max_vendor_id = reader.uint(16, f"{name}.MaxVendorId")
    if not reader.flag(f"{name}.IsRangeEncoding"):
        return reader.ids(max_vendor_id, f"{name} (a bit field of {max_vendor_id} vendors)")
    ranges = _ranges(reader, name, max_vendor_id)
    return tuple(vendor_id for first, last in ranges for vendor_id in range(first, last + 1))


def _ranges(reader: _Reader, name: str, max_vendor_id: int | None) -> tuple[tuple[int, int], ...]:
    """NumEntries, then that many single ids or ranges; sorted and merged, as they may overlap."""
    count = reader.uint(12, f"{name}.NumEntries")
    ranges: list[tuple[int, int]] = []
    for number in range(1, count + 1):
        entry = f"{name} range entry {number}"
        is_range = reader.flag(f"{entry} (IsARange)")
        first = reader.uint(16, f"{entry} (StartOrOnlyVendorId)")
        last = reader.uint(16, f"{entry} (EndVendorId)") if is_range else first
        if first == 0:
            raise TCStringInvalid(f"{entry} starts at vendor id 0; ids start at 1")
        if last < first:
            raise TCStringInvalid(f"{entry} ends at vendor {last}, before its start {first}")
        if max_vendor_id is not None and last > max_vendor_id:
            raise TCStringInvalid(f"{entry} names vendor {last}, above {name}.MaxVendorId {max_vendor_id}")
        ranges.append((first, last))
    return _merged(ranges)


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def _publisher_restrictions(reader: _Reader) -> tuple[PublisherRestriction, ...]:
    restrictions = []
    for number in range(1, reader.uint(12, "NumPubRestrictions") + 1):
        entry = f"publisher restriction {number}"
        purpose_id = reader.uint(6, f"{entry} (PurposeId)")
        code = reader.uint(2, f"{entry} (RestrictionType)")
        if purpose_id == 0:
            raise TCStringInvalid(f"{entry} has purpose id 0; ids start at 1")
        if code >= len(_RESTRICTION_TYPES):
            raise TCStringInvalid(f"{entry} has the undefined restriction type {code}")
        restrictions.append(
            PublisherRestriction(
                purpose_id=purpose_id,
                restriction_type=_RESTRICTION_TYPES[code],
                vendor_ranges=_ranges(reader, entry, max_vendor_id=None),
            )
        )
    return tuple(restrictions)


def _publisher_tc(reader: _Reader) -> PublisherTC:
    consent = reader.ids(24, "PubPurposesConsent")
    li_transparency = reader.ids(24, "PubPurposesLITransparency")
    custom_count = reader.uint(6, "NumCustomPurposes")
    return PublisherTC(
        purposes_consent=consent,
        purposes_li_transparency=li_transparency,
        custom_purpose_count=custom_count,
        custom_purposes_consent=reader.ids(custom_count, "CustomPurposesConsent"),
        custom_purposes_li_transparency=reader.ids(custom_count, "CustomPurposesLITransparency"),
    )
