"""How Stripe writes a change's lines (docs/stripe.md#prorations): the billing engine's Stripe strategy.

Each changed item gives a credit for the old quantity's unused time and a debit for the new quantity's
remaining time, prorated to the second from ``proration_date``. Billing cycles step from a UTC
``billing_cycle_anchor``. A day-granular policy on Stripe dates the change at the local midnight of its
day and lets the per-second rule do the rest.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from adapter.billing.money import format_amount
from adapter.billing.periods import Period, local_midnight, truncate
from adapter.providers.base import Item


class StripeBilling:
    nets_quantity_changes = False

    def cycle_timezone(self, account_timezone: str) -> str:
        return "UTC"

    def day_based_terms(self, granularity: str) -> bool:
        return False

    def effective(self, granularity: str, at: dt.datetime, period: Period, timezone: str) -> tuple[dt.datetime, str]:
        if granularity == "day":
            return max(local_midnight(at, timezone), period.start), "second"
        return max(truncate(at, granularity), period.start), granularity

    def term_start(self, start: dt.datetime) -> dt.datetime:
        return truncate(start, "second")

    def describe_proration(self, credit: bool, item: Item, quantity: int, start: dt.datetime, end: dt.datetime,
                           timezone: str) -> str:
        what = "Unused time" if credit else "Remaining time"
        times = "" if quantity == 1 else f"{quantity} × "
        return f"{what} on {times}{item.name} after {start.astimezone(ZoneInfo(timezone)):%d %b %Y}"

    def describe_full(self, item: Item, currency: str, interval: str) -> str:
        return f"{item.quantity} × {item.name} (at {format_amount(item.unit_amount, currency)} / {interval})"
