"""How Chargebee writes a change's lines (docs/chargebee.md#billing-modes): the billing engine's strategy.

A quantity difference on one item price is one line (a charge, or a credit on a credit note) for the
difference over the rest of the term, prorated to the millisecond or, in day-based mode, counting
whole local days from the change day on (the change day is billed at the new quantity). A price
change credits the old price and charges the new one. Day-based terms start at local midnight, so
billing periods step in the account's timezone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from adapter.billing.periods import Period, local_midnight, truncate
from adapter.providers.base import Item


class ChargebeeBilling:
    nets_quantity_changes = True

    def cycle_timezone(self, account_timezone: str) -> str:
        return account_timezone

    def day_based_terms(self, granularity: str) -> bool:
        return granularity == "day"

    def effective(self, granularity: str, at: dt.datetime, period: Period, timezone: str) -> tuple[dt.datetime, str]:
        if granularity == "day":
            return max(local_midnight(at, timezone), period.start), "day"
        return max(truncate(at, granularity), period.start), granularity

    def term_start(self, start: dt.datetime) -> dt.datetime:
        return start

    def describe_proration(self, credit: bool, item: Item, quantity: int, start: dt.datetime, end: dt.datetime,
                           timezone: str) -> str:
        zone = ZoneInfo(timezone)
        last = (end - dt.timedelta(microseconds=1)).astimezone(zone)
        what = "Credits" if credit else "Charges"
        return f"{item.name} - Prorated {what} for {start.astimezone(zone):%d-%b-%Y} - {last:%d-%b-%Y}"

    def describe_full(self, item: Item, currency: str, interval: str) -> str:
        return item.name
