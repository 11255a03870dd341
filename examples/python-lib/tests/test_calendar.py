from datetime import date, datetime, time

import pytest
from freezegun import freeze_time

from shipdate import ShopCalendar, delivery_date
from shipdate.calendar import delivery_date_today


def test_orders_before_the_cutoff_leave_the_same_day():
    # Wednesday 10:00, one day in transit: Thursday.
    assert delivery_date(datetime(2026, 12, 2, 10, 0), 1) == date(2026, 12, 3)


def test_orders_after_the_cutoff_leave_the_next_working_day():
    # Friday 16:00: dispatched Monday, delivered Tuesday.
    assert delivery_date(datetime(2026, 12, 4, 16, 0), 1) == date(2026, 12, 8)


def test_weekends_and_holidays_are_skipped():
    calendar = ShopCalendar.from_strings("15:30", ["2026-12-24", "2026-12-25"])
    assert calendar.cutoff == time(15, 30)
    # Wednesday 23 Dec, 09:00: leaves that day, two days: Thu 24 and Fri 25 are
    # holidays, so Mon 28 and Tue 29.
    assert delivery_date(datetime(2026, 12, 23, 9, 0), 2, calendar) == date(2026, 12, 29)


@freeze_time("2026-12-05 11:00:00")
def test_a_saturday_order_counts_from_monday():
    assert delivery_date_today(0) == date(2026, 12, 7)


def test_negative_transit_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        delivery_date(datetime(2026, 12, 2, 10, 0), -1)
