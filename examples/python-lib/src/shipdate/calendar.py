"""When does a parcel arrive? Business days after the order, honouring a daily cut-off."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

SATURDAY = 5


@dataclass(frozen=True)
class ShopCalendar:
    """Working days of a shop: weekdays, minus holidays, with an order cut-off."""

    cutoff: time = time(14, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_strings(cls, cutoff: str, holidays: list[str]) -> ShopCalendar:
        """Build a calendar from text such as ``"15:30"`` and ``["2026-12-25"]``."""
        parsed_cutoff = date_parser.parse(cutoff).time()
        return cls(
            cutoff=parsed_cutoff,
            holidays=frozenset(date_parser.parse(day).date() for day in holidays),
        )

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        day = day + relativedelta(days=1)
        while not self.is_working_day(day):
            day = day + relativedelta(days=1)
        return day

    def dispatch_day(self, ordered: datetime) -> date:
        """The day an order leaves the warehouse."""
        day = ordered.date()
        if self.is_working_day(day) and ordered.time() < self.cutoff:
            return day
        return self.next_working_day(day)


def delivery_date(
    ordered: datetime, transit_days: int, calendar: ShopCalendar | None = None
) -> date:
    """The day a parcel ordered at ``ordered`` arrives after ``transit_days`` working days."""
    if transit_days < 0:
        raise ValueError(f"transit_days must not be negative, got {transit_days}")
    calendar = calendar or ShopCalendar()
    day = calendar.dispatch_day(ordered)
    for _ in range(transit_days):
        day = calendar.next_working_day(day)
    return day


def delivery_date_today(transit_days: int, calendar: ShopCalendar | None = None) -> date:
    """The delivery date of an order placed now."""
    return delivery_date(datetime.now(), transit_days, calendar)
