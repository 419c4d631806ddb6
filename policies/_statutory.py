"""The request deadlines the law sets, used wherever a policy file does not declare its own.

The figures are the statutory maximums; an operator may shorten them in the file (for APPI,
whose "without delay" has no number, the 14 days here are a service level, not the law).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from policies._codes import Jurisdiction, PeriodUnit
from policies._model import Deadline, Deadlines, Period

__all__ = ["STATUTORY_DEADLINES"]


def _days(count: int) -> Period:
    return Period(count=count, unit=PeriodUnit.DAYS)


def _business_days(count: int) -> Period:
    return Period(count=count, unit=PeriodUnit.BUSINESS_DAYS)


def _months(count: int) -> Period:
    return Period(count=count, unit=PeriodUnit.MONTHS)


# GDPR Art. 12(3): one month, extendable by two further months.
_ONE_MONTH_PLUS_TWO = Deadline(respond=_months(1), extension=_months(2))

# CCPA regulations §7026(f) and §7027(g): opt-out of sale/sharing and limiting the use of
# sensitive data are honoured within 15 business days, with no acknowledgement or extension.
_CCPA_FAST_TRACK = Deadline(respond=_business_days(15))

STATUTORY_DEADLINES: Mapping[Jurisdiction, Deadlines] = MappingProxyType(
    {
        Jurisdiction.GDPR: Deadlines(default=_ONE_MONTH_PLUS_TWO),
        # CCPA §1798.130(a)(2) and regulations §7021: confirm receipt within 10 business days,
        # respond within 45 calendar days, extendable once by 45.
        Jurisdiction.CCPA: Deadlines(
            default=Deadline(acknowledge=_business_days(10), respond=_days(45), extension=_days(45)),
            opt_out=_CCPA_FAST_TRACK,
            restrict=_CCPA_FAST_TRACK,
        ),
        # Virginia §59.1-577, Colorado §6-1-1306, Connecticut §42-520: 45 days, plus 45.
        Jurisdiction.US_STATE: Deadlines(default=Deadline(respond=_days(45), extension=_days(45))),
        # APPI Art. 33 asks for "without delay"; 14 days is the service level we commit to.
        Jurisdiction.APPI: Deadlines(default=Deadline(respond=_days(14))),
        # LGPD Art. 19(II): a complete answer within 15 days.
        Jurisdiction.LGPD: Deadlines(default=Deadline(respond=_days(15))),
        # Elsewhere: the GDPR's periods, the most widely copied baseline.
        Jurisdiction.DEFAULT: Deadlines(default=_ONE_MONTH_PLUS_TWO),
    }
)
