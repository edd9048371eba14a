"""Policy + change → the provider call that carries it out. Pure: no I/O, no SDK.

The policy-to-provider table in ARCHITECTURE.md is generated from the two
dictionaries below (``tests/test_translate.py`` checks the document agrees),
so the table and the code cannot drift apart.

Every call carries the absolute quantity (never an increment) and explicit
proration flags: Chargebee's defaults are site settings that differ per site
(reference/chargebee.md §2b), and Stripe's default ``create_prorations`` is
only right for some policies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from adapter.billing.policy import Addon, Plan

# (direction, policy rule) → Stripe proration_behavior
STRIPE_PRORATION = {
    ("increase", "next_invoice"): "create_prorations",
    ("increase", "invoice_now"): "always_invoice",
    ("increase", "threshold"): "create_prorations",
    ("increase", "at_renewal"): "none",
    ("decrease", "credit_next_invoice"): "create_prorations",
    ("decrease", "at_renewal"): "none",
}

# (direction, policy rule) → Chargebee (prorate, invoice_immediately)
CHARGEBEE_FLAGS = {
    ("increase", "next_invoice"): (True, False),
    ("increase", "invoice_now"): (True, True),
    ("increase", "threshold"): (True, False),
    ("increase", "at_renewal"): (False, False),
    ("decrease", "credit_next_invoice"): (True, False),
    ("decrease", "at_renewal"): (False, False),
}

# Chargebee has no proration_date: a change applies when it is made. Backdating
# (change_option=specific_date + changes_scheduled_at) needs a site setting and
# must follow the last item change (reference chargebee.md §2): with
# CHARGEBEE_BACKDATING on, seat changes carry their own date; otherwise they
# change immediately and the money that moves is recorded as a late change
# (adapter/sync.py). Plan and addon changes always change immediately.
CHARGEBEE_TIMING = {"change_option": "immediately"}

# Addon proration (Chargebee's proration_type vocabulary) → Stripe proration_behavior.
STRIPE_ADDON_PRORATION = {"partial_term": "create_prorations", "none": "none"}


class TranslateError(Exception):
    """The policy asks for something this provider cannot do; permanent, so it is dead-lettered."""


@dataclass(frozen=True)
class SubscriptionState:
    """What the provider says about a subscription right now, normalised across providers."""

    provider: str
    subscription: str
    customer: str
    status: str
    period_start_us: int
    period_end_us: int
    quantity: int | None
    seat_item: str | None  # Stripe: si_…; Chargebee: the item price id
    seat_price: str | None
    base_item: str | None = None
    base_price: str | None = None
    addon_items: dict[str, str] = field(default_factory=dict)  # price id → item id (Stripe) or price id
    now_us: int | None = None  # the provider's clock when it differs from ours (a Stripe test clock)


@dataclass(frozen=True)
class CallSpec:
    """One provider write, before an idempotency key is attached."""

    kind: str  # quantity | plan | addons | threshold
    operation: str
    target: str
    params: dict
    quantity: int | None = None
    effective_us: int | None = None


def direction(old: int, new: int) -> str:
    return "increase" if new > old else "decrease"


def rule_for(plan: Plan, change: str) -> str:
    return plan.increase if change == "increase" else plan.decrease


def period_price_day(state: SubscriptionState, plan: Plan, timezone: str | None) -> dt.date:
    """The local date that picks the price in force for the current period (its first day)."""
    zone = ZoneInfo(timezone or plan.timezone)
    start = dt.datetime.fromtimestamp(state.period_start_us / 1_000_000, tz=dt.timezone.utc)
    return start.astimezone(zone).date()


def quantity_call(plan: Plan, state: SubscriptionState, *, old: int, new: int, effective_us: int,
                  backdate_us: int | None = None) -> CallSpec:
    """Set the seat quantity to ``new`` as of ``effective_us``, under the plan's rule for that direction.

    On Chargebee ``backdate_us`` dates the change back (``change_option=specific_date``); without it the
    change applies at Chargebee's now.
    """
    change = direction(old, new)
    rule = rule_for(plan, change)
    if state.provider == "stripe":
        if state.seat_item is None:
            raise TranslateError(f"subscription {state.subscription} has no item with the seat price")
        params = {"quantity": new, "proration_behavior": STRIPE_PRORATION[(change, rule)],
                  "proration_date": effective_us // 1_000_000}
        if params["proration_behavior"] == "none":
            del params["proration_date"]  # Stripe ignores it without prorations; keep the request honest
        return CallSpec("quantity", "stripe.subscription_items.update", state.seat_item, params, new, effective_us)
    if new < 1:
        raise TranslateError(
            "Chargebee refuses subscription_items[quantity] < 1 (reference chargebee.md §1); "
            f"plan {plan.id} has zero_seats={plan.zero_seats!r} and minimum_seats={plan.minimum_seats}")
    prorate, invoice_now = CHARGEBEE_FLAGS[(change, rule)]
    params = {"subscription_items": [{"item_price_id": state.seat_price, "quantity": new}],
              "prorate": prorate, "invoice_immediately": invoice_now}
    if backdate_us is not None:
        params.update(change_option="specific_date", changes_scheduled_at=backdate_us // 1_000_000)
    else:
        params.update(CHARGEBEE_TIMING)
    return CallSpec("quantity", "chargebee.subscriptions.update_for_items", state.subscription, params, new,
                    effective_us)


def plan_change_call(old_plan: Plan, new_plan: Plan, state: SubscriptionState, *, quantity: int,
                     effective_us: int, timezone: str | None = None) -> CallSpec:
    """Swap the seat and base-fee prices in one update, keeping the quantity."""
    day = period_price_day(state, new_plan, timezone)
    seat_price = new_plan.seat.at(day)
    base_price = new_plan.base_fee.at(day) if new_plan.base_fee else None
    old_amount = quantity * old_plan.seat.at(day).unit_amount + (old_plan.base_fee.at(day).unit_amount if old_plan.base_fee else 0)
    new_amount = quantity * seat_price.unit_amount + (base_price.unit_amount if base_price else 0)
    change = "increase" if new_amount > old_amount else "decrease"
    rule = rule_for(new_plan, change)
    if state.provider == "stripe":
        if state.seat_item is None:
            raise TranslateError(f"subscription {state.subscription} has no seat item to change")
        items = [{"id": state.seat_item, "price": seat_price.price_id, "quantity": quantity}]
        if base_price and state.base_item:
            items.append({"id": state.base_item, "price": base_price.price_id})
        elif base_price:
            items.append({"price": base_price.price_id, "quantity": 1})
        elif state.base_item:
            items.append({"id": state.base_item, "deleted": True})
        params = {"items": items, "proration_behavior": STRIPE_PRORATION[(change, rule)],
                  "proration_date": effective_us // 1_000_000}
        return CallSpec("plan", "stripe.subscriptions.update", state.subscription, params, quantity, effective_us)
    if quantity < 1:
        raise TranslateError("Chargebee refuses quantity < 1 on a plan change")
    prorate, invoice_now = CHARGEBEE_FLAGS[(change, rule)]
    items = [{"item_price_id": seat_price.price_id, "quantity": quantity}]
    if base_price:
        items.append({"item_price_id": base_price.price_id, "quantity": 1})
    # Addons that the new plan still offers stay; replace_items_list drops the old plan's items.
    for price_id in state.addon_items:
        items.append({"item_price_id": price_id})
    params = {"subscription_items": items, "replace_items_list": True, "prorate": prorate,
              "invoice_immediately": invoice_now}
    params.update(CHARGEBEE_TIMING)
    return CallSpec("plan", "chargebee.subscriptions.update_for_items", state.subscription, params, quantity,
                    effective_us)


def subscription_after_plan_change(state: SubscriptionState, new_plan: Plan, timezone: str | None) -> SubscriptionState:
    """The subscription as ``plan_change_call`` leaves it: the new plan's seat and base-fee prices (Stripe
    swaps the price on the same seat item; a Chargebee item is named by its item price)."""
    day = period_price_day(state, new_plan, timezone)
    seat = new_plan.seat.at(day).price_id
    base = new_plan.base_fee.at(day).price_id if new_plan.base_fee else None
    if state.provider == "stripe":
        return replace(state, seat_price=seat, base_price=base, base_item=state.base_item if base else None)
    return replace(state, seat_price=seat, seat_item=seat, base_price=base, base_item=base)


def addons_call(plan: Plan, addons: dict[str, Addon], state: SubscriptionState, *, enabled: tuple[str, ...],
                seats: int, effective_us: int, timezone: str | None = None) -> CallSpec | None:
    """Add or remove addon prices so the subscription carries exactly ``enabled``; None if it already does."""
    day = period_price_day(state, plan, timezone)
    wanted = {}
    for addon_id in enabled:
        addon = addons[addon_id]
        wanted[addon.price.at(day).price_id] = addon
    present = set(state.addon_items)
    to_add = [price for price in wanted if price not in present]
    to_remove = [price for price in present if price not in wanted]
    if not to_add and not to_remove:
        return None
    changed = [wanted[p] for p in to_add] + [a for a in addons.values() if a.price.at(day).price_id in to_remove]
    proration = {a.proration for a in changed}
    if state.provider == "stripe":
        behaviours = set()
        for value in proration:
            if value not in STRIPE_ADDON_PRORATION:
                raise TranslateError(f"Stripe has no {value!r} proration for addons; use partial_term or none")
            behaviours.add(STRIPE_ADDON_PRORATION[value])
        if len(behaviours) > 1:
            raise TranslateError("addons changed together must share one proration rule on Stripe")
        items = [{"price": price, "quantity": seats if wanted[price].pricing == "per_unit" else 1} for price in to_add]
        items += [{"id": state.addon_items[price], "deleted": True} for price in to_remove]
        params = {"items": items, "proration_behavior": behaviours.pop(),
                  "proration_date": effective_us // 1_000_000}
        return CallSpec("addons", "stripe.subscriptions.update", state.subscription, params, None, effective_us)
    items = [{"item_price_id": state.seat_price, "quantity": max(seats, 1)}]
    if state.base_price:
        items.append({"item_price_id": state.base_price, "quantity": 1})
    for price in sorted(set(wanted)):
        entry = {"item_price_id": price}
        if wanted[price].pricing == "per_unit":
            entry["quantity"] = max(seats, 1)
        items.append(entry)
    prorate = "none" not in proration
    params = {"subscription_items": items, "replace_items_list": True, "prorate": prorate,
              "invoice_immediately": False}
    params.update(CHARGEBEE_TIMING)
    return CallSpec("addons", "chargebee.subscriptions.update_for_items", state.subscription, params, None,
                    effective_us)


def threshold_call(plan: Plan, state: SubscriptionState) -> CallSpec | None:
    """For threshold policies: invoice the accumulated prorations once they surpass the amount.

    The 002 article says the invoice is issued when the total "surpasses" the
    threshold, so the comparison is strictly greater than. The provider reads
    the pending total when the call runs (see providers/).
    """
    if plan.increase != "threshold":
        return None
    if state.provider == "stripe":
        params = {"customer": state.customer, "subscription": state.subscription,
                  "threshold": plan.increase_threshold}
        return CallSpec("threshold", "stripe.invoice_pending_over_threshold", state.subscription, params)
    params = {"subscription_id": state.subscription, "threshold": plan.increase_threshold}
    return CallSpec("threshold", "chargebee.invoice_unbilled_over_threshold", state.subscription, params)


def policy_table() -> str:
    """The policy-to-provider table, as Markdown, for ARCHITECTURE.md."""
    rows = ["| Direction | Policy rule | Stripe `proration_behavior` | Chargebee `prorate` | Chargebee `invoice_immediately` |",
            "| --- | --- | --- | --- | --- |"]
    for key, behaviour in STRIPE_PRORATION.items():
        prorate, invoice_now = CHARGEBEE_FLAGS[key]
        rows.append(f"| {key[0]} | `{key[1]}` | `{behaviour}` | `{str(prorate).lower()}` | `{str(invoice_now).lower()}` |")
    return "\n".join(rows)
