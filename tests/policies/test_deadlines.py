"""Legal deadlines of data subject requests, at month ends, in leap years and over holidays."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    BusinessCalendar,
    DueDates,
    Jurisdiction,
    JurisdictionRules,
    Period,
    PeriodUnit,
    Policy,
    RequestType,
    add_months,
    add_period,
    due_dates,
    parse_policy,
)
from tests.policies.samples import MINIMAL_POLICY

WEEKENDS_ONLY = BusinessCalendar()
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
quick = settings(max_examples=60, deadline=None)


def received(day: date) -> datetime:
    return datetime.combine(day, time(15, 30), tzinfo=UTC)


def rules(policy: Policy, jurisdiction: Jurisdiction) -> JurisdictionRules:
    return policy.jurisdictions[jurisdiction]


# The statutory periods.


@pytest.mark.parametrize(
    ("received_on", "respond_by", "extended_by"),
    [
        (date(2024, 1, 31), date(2024, 2, 29), date(2024, 4, 29)),
        (date(2023, 1, 31), date(2023, 2, 28), date(2023, 4, 28)),
        (date(2024, 9, 3), date(2024, 10, 3), date(2024, 12, 3)),
        (date(2024, 12, 15), date(2025, 1, 15), date(2025, 3, 15)),
    ],
)
def test_gdpr_gives_one_calendar_month_extendable_by_two(
    minimal: Policy, received_on: date, respond_by: date, extended_by: date
) -> None:
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.GDPR), received(received_on))
    assert due == DueDates(acknowledge_by=None, respond_by=respond_by, extended_by=extended_by)


def test_ccpa_acknowledges_in_ten_business_days_and_responds_in_45_days_plus_45(minimal: Policy) -> None:
    # Friday 3 January 2025.
    due = due_dates(RequestType.ERASURE, rules(minimal, Jurisdiction.CCPA), received(date(2025, 1, 3)))
    assert due == DueDates(acknowledge_by=date(2025, 1, 17), respond_by=date(2025, 2, 17), extended_by=date(2025, 4, 3))


def test_ccpa_opt_outs_are_honoured_within_15_business_days(minimal: Policy) -> None:
    due = due_dates(RequestType.OPT_OUT, rules(minimal, Jurisdiction.CCPA), received(date(2025, 1, 3)))
    assert due == DueDates(acknowledge_by=None, respond_by=date(2025, 1, 24), extended_by=None)


def test_us_states_give_45_days_plus_45(minimal: Policy) -> None:
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.US_STATE), received(date(2025, 1, 3)))
    assert due == DueDates(acknowledge_by=None, respond_by=date(2025, 2, 17), extended_by=date(2025, 4, 3))


def test_lgpd_gives_15_days(minimal: Policy) -> None:
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.LGPD), received(date(2025, 1, 3)))
    assert due == DueDates(acknowledge_by=None, respond_by=date(2025, 1, 18), extended_by=None)


def test_appi_without_delay_defaults_to_a_14_day_service_level(minimal: Policy) -> None:
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.APPI), received(date(2025, 1, 3)))
    assert due == DueDates(acknowledge_by=None, respond_by=date(2025, 1, 17), extended_by=None)


def test_appi_service_level_comes_from_the_policy_file() -> None:
    text = MINIMAL_POLICY.replace(
        'equivalent_countries = ["JP", "GB"]\n',
        'equivalent_countries = ["JP", "GB"]\ndeadlines.default.respond = { count = 7, unit = "days" }\n',
    )
    appi = rules(parse_policy(text, source="test.toml"), Jurisdiction.APPI)
    assert due_dates(RequestType.ACCESS, appi, received(date(2025, 1, 3))).respond_by == date(2025, 1, 10)


# Business days.


def test_business_days_skip_the_holidays_of_the_calendar(minimal: Policy) -> None:
    # Friday 10 January 2025; Monday 20 January is Martin Luther King Jr. Day.
    holiday = BusinessCalendar(holidays=frozenset({date(2025, 1, 20)}))
    ccpa = rules(minimal, Jurisdiction.CCPA)
    assert due_dates(RequestType.ACCESS, ccpa, received(date(2025, 1, 10))).acknowledge_by == date(2025, 1, 24)
    due = due_dates(RequestType.ACCESS, ccpa, received(date(2025, 1, 10)), calendar=holiday)
    assert due.acknowledge_by == date(2025, 1, 27)


def test_the_default_calendar_uses_the_jurisdiction_s_holidays(shop: Policy) -> None:
    due = due_dates(RequestType.ACCESS, rules(shop, Jurisdiction.CCPA), received(date(2025, 1, 10)))
    assert due.acknowledge_by == date(2025, 1, 27)


def test_a_request_received_at_the_weekend_counts_from_the_next_business_day() -> None:
    one = Period(count=1, unit=PeriodUnit.BUSINESS_DAYS)
    assert add_period(date(2025, 1, 4), one, WEEKENDS_ONLY) == date(2025, 1, 6)


def test_a_calendar_needs_at_least_one_working_weekday() -> None:
    with pytest.raises(ValueError, match="weekend"):
        BusinessCalendar(weekend=frozenset(range(7)))


def test_the_day_of_receipt_is_in_the_time_zone_of_the_receipt(minimal: Policy) -> None:
    # 1:00 on 1 February in Tokyo is still 31 January in UTC.
    early_morning = datetime(2024, 2, 1, 1, 0, tzinfo=timezone(timedelta(hours=9)))
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.GDPR), early_morning)
    assert due.respond_by == date(2024, 3, 1)


# Properties around month ends and leap years.


@quick
@given(days, st.integers(0, 36))
def test_adding_months_keeps_the_day_or_clamps_to_the_month_end(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    last_day = calendar.monthrange(end.year, end.month)[1]
    assert end.day == min(start.day, last_day)


@quick
@given(days, days, st.integers(0, 36))
def test_adding_months_never_reorders_dates(first: date, second: date, months: int) -> None:
    earlier, later = sorted((first, second))
    assert add_months(earlier, months) <= add_months(later, months)


@quick
@given(st.integers(1900, 2200))
def test_the_end_of_january_plus_a_month_is_the_end_of_february(year: int) -> None:
    february_end = 29 if calendar.isleap(year) else 28
    for day in (29, 30, 31):
        assert add_months(date(year, 1, day), 1) == date(year, 2, min(day, february_end))


@quick
@given(days)
def test_the_gdpr_month_is_between_28_and_31_days(day: date) -> None:
    gdpr = Period(count=1, unit=PeriodUnit.MONTHS)
    assert 28 <= (add_period(day, gdpr, WEEKENDS_ONLY) - day).days <= 31


@quick
@given(days, st.integers(1, 30), st.frozensets(days, max_size=10))
def test_a_business_day_deadline_lands_on_the_nth_business_day(
    start: date, count: int, holidays: frozenset[date]
) -> None:
    business = BusinessCalendar(holidays=holidays)
    end = add_period(start, Period(count=count, unit=PeriodUnit.BUSINESS_DAYS), business)
    assert business.is_business_day(end)
    between = (start + timedelta(days=offset) for offset in range(1, (end - start).days + 1))
    assert sum(business.is_business_day(day) for day in between) == count


@quick
@given(st.sampled_from(RequestType), st.sampled_from(Jurisdiction), days)
def test_deadlines_follow_receipt_and_extensions_follow_deadlines(
    minimal: Policy, request_type: RequestType, jurisdiction: Jurisdiction, day: date
) -> None:
    due = due_dates(request_type, minimal.jurisdictions[jurisdiction], received(day))
    assert due.respond_by > day
    assert due.acknowledge_by is None or day < due.acknowledge_by <= due.respond_by
    assert due.extended_by is None or due.extended_by > due.respond_by


def test_due_dates_are_plain_values(minimal: Policy) -> None:
    due = due_dates(RequestType.ACCESS, rules(minimal, Jurisdiction.CCPA), received(date(2025, 1, 3)))
    assert msgspec.json.decode(msgspec.json.encode(due), type=DueDates) == due
