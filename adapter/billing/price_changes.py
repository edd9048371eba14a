"""Announced price changes (seed 000: "If we implement a price change, clinic administrators will
receive notice three months in advance"): which change an account is heading for, and what it costs.

Pure: a plan, the account's cycle anchor and timezone, its billable seats and an instant in; for each
dated change of the plan's seat or base-fee price still ahead, the first invoice that carries it (the
first renewal whose period's first local day is on or after ``effective_from``: the engine bills each
period at the price in force on that day) and what that renewal costs at the new price. Money is exact
integer minor units.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from adapter.billing.engine import provider_period
from adapter.billing.periods import Period
from adapter.billing.policy import Plan, PricePoint


@dataclass(frozen=True)
class ScheduledPriceChange:
    plan: str
    item: str  # seat | base_fee
    currency: str
    old: PricePoint
    new: PricePoint
    effective_from: dt.date
    first_invoice_at: dt.datetime  # the renewal that first bills the new price (its period's start)
    period: Period  # the first period at the new price
    seats: int  # billable seats now
    renewal_amount: int  # what that renewal bills at the new prices (seats × seat price + base fee)
    notice_days: int

    def notice_from(self) -> dt.date:
        """The first day the product must be told, at the latest (``notice_days`` before)."""
        return self.effective_from - dt.timedelta(days=self.notice_days)

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan, "item": self.item, "currency": self.currency,
                "old_unit_amount": self.old.unit_amount, "new_unit_amount": self.new.unit_amount,
                "old_price_id": self.old.price_id, "new_price_id": self.new.price_id,
                "effective_from": self.effective_from.isoformat(),
                "first_invoice_at": self.first_invoice_at.isoformat(),
                "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
                "seats": self.seats, "renewal_amount": self.renewal_amount, "notice_days": self.notice_days}


def _first_day(period: Period, timezone: str) -> dt.date:
    return period.start.astimezone(ZoneInfo(timezone)).date()


def scheduled_price_changes(plan: Plan, *, anchor: dt.datetime, timezone: str, at: dt.datetime,
                            seats: int) -> list[ScheduledPriceChange]:
    """The plan's price changes not yet billed at ``at``, each with its first invoice and that renewal's cost."""
    current = provider_period(plan, timezone, anchor, at)
    today = _first_day(current, timezone)
    found = []
    for item, price in (("seat", plan.seat), ("base_fee", plan.base_fee)):
        if price is None:
            continue
        for change in price.price_changes:
            if change.effective_from is None or change.effective_from <= today:
                continue  # already in force for the current period
            period = current
            for _ in range(400):  # a period is at least a month: 400 steps reach 33 years ahead
                if _first_day(period, timezone) >= change.effective_from:
                    break
                period = provider_period(plan, timezone, anchor, period.end)
            day = _first_day(period, timezone)
            amount = seats * plan.seat.at(day).unit_amount + (plan.base_fee.at(day).unit_amount if plan.base_fee
                                                              else 0)
            found.append(ScheduledPriceChange(plan.id, item, plan.currency, price.at(today), change,
                                              change.effective_from, period.start, period, seats, amount,
                                              plan.notice_days))
    return sorted(found, key=lambda c: (c.effective_from, c.item))


def due_for_notice(change: ScheduledPriceChange, today: dt.date) -> bool:
    """Notify once the change is ``notice_days`` or less away (and not yet billed)."""
    return today >= change.notice_from()
