"""Policy + change → the Chargebee ``update_for_items`` call that carries it out. Pure: no I/O, no SDK.

``prorate`` and ``invoice_immediately`` are always sent explicitly: their defaults are site settings
that differ per site (docs/chargebee.md#update-for-items). Chargebee has no proration date: a change
applies when it is made, unless the site allows backdating (``change_option=specific_date`` +
``changes_scheduled_at``, after the last item change: docs/chargebee.md#backdating); seat changes use
it when ``CHARGEBEE_BACKDATING`` says the site does. Plan and addon changes change immediately.
Chargebee refuses a quantity below 1.
"""

from __future__ import annotations

import datetime as dt

from adapter.billing.policy import Addon, Plan
from adapter.providers.base import CallSpec, SubscriptionState, TranslateError
from adapter.providers.calls import addon_changes, direction, plan_change_direction, price_points, rule_for

# (direction, policy rule) → (prorate, invoice_immediately)
FLAGS = {
    ("increase", "next_invoice"): (True, False),
    ("increase", "invoice_now"): (True, True),
    ("increase", "threshold"): (True, False),
    ("increase", "at_renewal"): (False, False),
    ("decrease", "credit_next_invoice"): (True, False),
    ("decrease", "at_renewal"): (False, False),
}
IMMEDIATELY = {"change_option": "immediately"}


def quantity_call(plan: Plan, state: SubscriptionState, *, old: int, new: int, effective_us: int,
                  backdate_us: int | None = None) -> CallSpec:
    if new < 1:
        raise TranslateError(
            "Chargebee refuses subscription_items[quantity] < 1 (docs/chargebee.md#quantity-minimum); "
            f"plan {plan.id} has zero_seats={plan.zero_seats!r} and minimum_seats={plan.minimum_seats}")
    change = direction(old, new)
    prorate, invoice_now = FLAGS[(change, rule_for(plan, change))]
    params: dict = {"subscription_items": [{"item_price_id": state.seat_price, "quantity": new}],
                    "prorate": prorate, "invoice_immediately": invoice_now}
    if backdate_us is not None:
        params.update(change_option="specific_date", changes_scheduled_at=backdate_us // 1_000_000)
    else:
        params.update(IMMEDIATELY)
    return CallSpec("quantity", "chargebee.subscriptions.update_for_items", state.subscription, params, new,
                    effective_us)


def plan_change_call(old_plan: Plan, new_plan: Plan, state: SubscriptionState, *, quantity: int,
                     effective_us: int, timezone: str | None = None) -> CallSpec:
    """Replace the plan's items in one update, keeping the quantity and the addons."""
    if quantity < 1:
        raise TranslateError("Chargebee refuses quantity < 1 on a plan change")
    seat_price, base_price = price_points(state, new_plan, timezone)
    change = plan_change_direction(old_plan, new_plan, state, quantity, timezone)
    prorate, invoice_now = FLAGS[(change, rule_for(new_plan, change))]
    if old_plan.interval != new_plan.interval:
        # Interval switch (mappings/konfidens.toml "interval switch"): the term resets at the switch, the
        # unused part of the old term is credited and the new term is charged at once, as on Stripe
        # (which always invoices an interval change), and as the engine and `preview` predict. Left
        # unbilled, a year's fee would wait a year for the next invoice.
        prorate, invoice_now = True, True
    items: list[dict] = [{"item_price_id": seat_price.price_id, "quantity": quantity}]
    if base_price:
        items.append({"item_price_id": base_price.price_id, "quantity": 1})
    # Addons that the new plan still offers stay; replace_items_list drops the old plan's items.
    items += [{"item_price_id": price_id} for price_id in state.addon_items]
    params = {"subscription_items": items, "replace_items_list": True, "prorate": prorate,
              "invoice_immediately": invoice_now, **IMMEDIATELY}
    return CallSpec("plan", "chargebee.subscriptions.update_for_items", state.subscription, params, quantity,
                    effective_us)


def addons_call(plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *, enabled: tuple[str, ...],
                seats: int, effective_us: int, timezone: str | None = None) -> CallSpec | None:
    diff = addon_changes(plan, addons, state, enabled=enabled, timezone=timezone)
    if diff is None:
        return None
    items: list[dict] = [{"item_price_id": state.seat_price, "quantity": max(seats, 1)}]
    if state.base_price:
        items.append({"item_price_id": state.base_price, "quantity": 1})
    for price in sorted(set(diff.wanted)):
        entry: dict = {"item_price_id": price}
        if diff.wanted[price].pricing == "per_unit":
            entry["quantity"] = max(seats, 1)
        items.append(entry)
    params = {"subscription_items": items, "replace_items_list": True, "prorate": "none" not in diff.prorations,
              "invoice_immediately": False, **IMMEDIATELY}
    return CallSpec("addons", "chargebee.subscriptions.update_for_items", state.subscription, params, None,
                    effective_us)


def price_change_call(plan: Plan, state: SubscriptionState, *, quantity: int, day: dt.date,
                      timezone: str | None = None) -> CallSpec:
    """An announced price change: the items at the prices in force on ``day`` from the term end
    (``change_option=end_of_term``: the renewal applies it and bills the new price; no proration),
    the quantity kept, the addons kept. Any later immediate change deletes a scheduled change
    (docs/chargebee.md#update-for-items), so seat sync sends this again after each such pass."""
    if quantity < 1:
        raise TranslateError("Chargebee refuses quantity < 1 on a scheduled price change")
    items: list[dict] = [{"item_price_id": plan.seat.at(day).price_id, "quantity": quantity}]
    if plan.base_fee:
        items.append({"item_price_id": plan.base_fee.at(day).price_id, "quantity": 1})
    items += [{"item_price_id": price_id} for price_id in sorted(state.addon_items)]
    params = {"subscription_items": items, "replace_items_list": True, "change_option": "end_of_term"}
    return CallSpec("price", "chargebee.subscriptions.update_for_items", state.subscription, params, None,
                    state.period_end_us)


def threshold_call(plan: Plan, state: SubscriptionState) -> CallSpec | None:
    if plan.increase != "threshold":
        return None
    params = {"subscription_id": state.subscription, "threshold": plan.increase_threshold}
    return CallSpec("threshold", "chargebee.invoice_unbilled_over_threshold", state.subscription, params)
