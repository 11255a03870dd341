"""Delivery-date arithmetic: business days, order cut-off times and shop holidays."""

from shipdate.calendar import ShopCalendar, delivery_date

__all__ = ["ShopCalendar", "delivery_date"]
