"""Seat sync's part of an announced price change (issue 19, seed 000: "notice three months in advance").

The engine bills each period at the price in force on its first local day, so the renewal that starts
the first period on or after ``effective_from`` must bill the new price. In the last period before it,
every pass that changed the items at once (a quantity, plan or addon call, which on Chargebee deletes a
scheduled change), or that finds no change scheduled, ends with the provider's call that moves the
items to the next period's prices from the renewal on: no proration, the quantity this pass leaves.
The call gets the pass's idempotency key like every other. A provider that cannot do it yet returns no
call (``Provider.price_change_call``); reconcile then names the renewal ``price_change_not_applied``.
"""

from __future__ import annotations

import datetime as dt

from adapter.billing.policy import Plan
from adapter.providers import registry
from adapter.providers.base import SECOND_US, CallSpec, SubscriptionState, local_date
from adapter.providers.translate import price_change_call

ITEM_CHANGES = ("quantity", "plan", "addons")


def _prices(plan: Plan, day: dt.date) -> tuple[str, str | None]:
    return plan.seat.at(day).price_id, plan.base_fee.at(day).price_id if plan.base_fee else None


def price_switch_call(plan: Plan, state: SubscriptionState, timezone: str, *, quantity: int,
                      specs: list[CallSpec]) -> CallSpec | None:
    """The call scheduling the next period's prices, when they differ from this period's; else None."""
    if state.period_end_us <= state.period_start_us or state.seat_price is None:
        return None
    # The next period's first day: a day-based term (Chargebee) ends one second before the next starts.
    this_day = local_date(state.period_start_us, timezone)
    next_day = local_date(state.period_end_us + SECOND_US, timezone)
    if _prices(plan, next_day) == _prices(plan, this_day):
        return None
    changed_items = any(spec.kind in ITEM_CHANGES for spec in specs)
    if state.scheduled_change and not changed_items:
        return None  # already scheduled, and nothing this pass deleted it
    quantity = max(quantity, registry.get(state.provider).minimum_quantity)
    return price_change_call(plan, state, quantity=quantity, day=next_day, timezone=timezone)
