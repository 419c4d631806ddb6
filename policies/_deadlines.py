"""Legal deadlines of data subject requests, from the jurisdiction's rules and a calendar.

Periods run from the day of receipt in the time zone of `received_at`: a period of N days or
months ends N days or months later; a period of N business days ends on the Nth business day
after receipt. A deadline that lands on a weekend or holiday is not moved later: answering on
time is never wrong, so the library errs early.
"""

from __future__ import annotations

import calendar as gregorian
from datetime import date, datetime, timedelta

import msgspec

from policies._codes import PeriodUnit, RequestType
from policies._model import JurisdictionRules, Period

__all__ = ["BusinessCalendar", "DueDates", "add_months", "add_period", "due_dates"]

_ONE_DAY = timedelta(days=1)


class BusinessCalendar(msgspec.Struct, kw_only=True, frozen=True):
    """Which days count as business days."""

    holidays: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})
    """Weekday numbers (Monday is 0) that are never business days."""

    def __post_init__(self) -> None:
        if not self.weekend < frozenset(range(7)):
            raise ValueError("weekend must be a proper subset of the weekday numbers 0 to 6")

    def is_business_day(self, day: date) -> bool:
        """Whether `day` is neither a weekend day nor a holiday."""
        return day.weekday() not in self.weekend and day not in self.holidays


class DueDates(msgspec.Struct, kw_only=True, frozen=True):
    """The last days on which a request's steps are on time."""

    acknowledge_by: date | None
    """`None` where the law asks for no separate acknowledgement."""
    respond_by: date
    extended_by: date | None
    """The response deadline once extended; `None` where no extension is allowed."""


def due_dates(
    request_type: RequestType,
    jurisdiction: JurisdictionRules,
    received_at: datetime,
    *,
    calendar: BusinessCalendar | None = None,
) -> DueDates:
    """The deadlines of a request of `request_type` received at `received_at`.

    The periods come from the jurisdiction's rules (the statutory ones unless the policy file
    declares others). `calendar` defaults to weekends plus the jurisdiction's `holidays`.

    >>> due_dates(RequestType.ACCESS, policy.jurisdictions[Jurisdiction.GDPR], received_at)  # doctest: +SKIP
    DueDates(acknowledge_by=None, respond_by=date(2024, 2, 29), extended_by=date(2024, 4, 29))
    """
    days = calendar if calendar is not None else BusinessCalendar(holidays=jurisdiction.holidays)
    deadline = jurisdiction.deadlines.for_request(request_type)
    received = received_at.date()
    respond_by = add_period(received, deadline.respond, days)
    return DueDates(
        acknowledge_by=None if deadline.acknowledge is None else add_period(received, deadline.acknowledge, days),
        respond_by=respond_by,
        # Counted from the original deadline: for months this can only come out earlier than
        # counting the total from receipt (31 Jan + 1 month + 2 months = 28 Apr, not 30 Apr).
        extended_by=None if deadline.extension is None else add_period(respond_by, deadline.extension, days),
    )


def add_period(start: date, period: Period, calendar: BusinessCalendar) -> date:
    """The day `period` after `start`."""
    if period.unit is PeriodUnit.MONTHS:
        return add_months(start, period.count)
    if period.unit is PeriodUnit.BUSINESS_DAYS:
        return _add_business_days(start, period.count, calendar)
    return start + timedelta(days=period.count)


def add_months(start: date, months: int) -> date:
    """The same day of the month `months` later, or that month's last day if it is shorter.

    31 January + 1 month is 28 February, or 29 February in a leap year.
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, gregorian.monthrange(year, month)[1]))


def _add_business_days(start: date, count: int, calendar: BusinessCalendar) -> date:
    day = start
    remaining = count
    while remaining:
        day += _ONE_DAY
        if calendar.is_business_day(day):
            remaining -= 1
    return day
