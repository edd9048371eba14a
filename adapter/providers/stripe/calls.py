"""Policy + change → the Stripe call that carries it out. Pure: no I/O, no SDK.

Every call carries the absolute quantity (never an increment) and an explicit ``proration_behavior``:
Stripe's default ``create_prorations`` is only right for some policies (docs/stripe.md#prorations).
A change is dated with ``proration_date`` (whole seconds, anywhere in the current period), so the
money follows the ledger's instant, not the call's.
"""

from __future__ import annotations

from adapter.billing.policy import Addon, Plan
from adapter.providers.base import CallSpec, SubscriptionState, TranslateError
from adapter.providers.calls import addon_changes, direction, plan_change_direction, price_points, rule_for

# (direction, policy rule) → Stripe proration_behavior
PRORATION = {
    ("increase", "next_invoice"): "create_prorations",
    ("increase", "invoice_now"): "always_invoice",
    ("increase", "threshold"): "create_prorations",
    ("increase", "at_renewal"): "none",
    ("decrease", "credit_next_invoice"): "create_prorations",
    ("decrease", "at_renewal"): "none",
}

# Addon proration (Chargebee's proration_type vocabulary, used by mappings/) → Stripe proration_behavior.
ADDON_PRORATION = {"partial_term": "create_prorations", "none": "none"}


def quantity_call(plan: Plan, state: SubscriptionState, *, old: int, new: int, effective_us: int,
                  backdate_us: int | None = None) -> CallSpec:
    change = direction(old, new)
    if state.seat_item is None:
        raise TranslateError(f"subscription {state.subscription} has no item with the seat price")
    params: dict = {"quantity": new, "proration_behavior": PRORATION[(change, rule_for(plan, change))],
                    "proration_date": effective_us // 1_000_000}
    if params["proration_behavior"] == "none":
        del params["proration_date"]  # Stripe ignores it without prorations; keep the request honest
    return CallSpec("quantity", "stripe.subscription_items.update", state.seat_item, params, new, effective_us)


def plan_change_call(old_plan: Plan, new_plan: Plan, state: SubscriptionState, *, quantity: int,
                     effective_us: int, timezone: str | None = None) -> CallSpec:
    """Swap the seat and base-fee prices in one update, keeping the quantity."""
    seat_price, base_price = price_points(state, new_plan, timezone)
    change = plan_change_direction(old_plan, new_plan, state, quantity, timezone)
    if state.seat_item is None:
        raise TranslateError(f"subscription {state.subscription} has no seat item to change")
    items: list[dict] = [{"id": state.seat_item, "price": seat_price.price_id, "quantity": quantity}]
    if base_price and state.base_item:
        items.append({"id": state.base_item, "price": base_price.price_id})
    elif base_price:
        items.append({"price": base_price.price_id, "quantity": 1})
    elif state.base_item:
        items.append({"id": state.base_item, "deleted": True})
    params = {"items": items, "proration_behavior": PRORATION[(change, rule_for(new_plan, change))],
              "proration_date": effective_us // 1_000_000}
    return CallSpec("plan", "stripe.subscriptions.update", state.subscription, params, quantity, effective_us)


def addons_call(plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *, enabled: tuple[str, ...],
                seats: int, effective_us: int, timezone: str | None = None) -> CallSpec | None:
    diff = addon_changes(plan, addons, state, enabled=enabled, timezone=timezone)
    if diff is None:
        return None
    behaviours = set()
    for value in diff.prorations:
        if value not in ADDON_PRORATION:
            raise TranslateError(f"Stripe has no {value!r} proration for addons; use partial_term or none")
        behaviours.add(ADDON_PRORATION[value])
    if len(behaviours) > 1:
        raise TranslateError("addons changed together must share one proration rule on Stripe")
    items: list[dict] = [{"price": price, "quantity": seats if diff.wanted[price].pricing == "per_unit" else 1}
                         for price in diff.to_add]
    items += [{"id": state.addon_items[price], "deleted": True} for price in diff.to_remove]
    params = {"items": items, "proration_behavior": behaviours.pop(), "proration_date": effective_us // 1_000_000}
    return CallSpec("addons", "stripe.subscriptions.update", state.subscription, params, None, effective_us)


def threshold_call(plan: Plan, state: SubscriptionState) -> CallSpec | None:
    if plan.increase != "threshold":
        return None
    params = {"customer": state.customer, "subscription": state.subscription, "threshold": plan.increase_threshold}
    return CallSpec("threshold", "stripe.invoice_pending_over_threshold", state.subscription, params)
