"""Subscriptions: create, change items (prorations), change interval (reference stripe.md §1, §4).

Free functions over the ``Ledger``; the arithmetic is ``tests.sandbox.stripe.billing``.
"""

from __future__ import annotations

from decimal import Decimal

from .. import billing
from ..errors import StripeError
from .customers import charge_in
from .invoices import bill_now, cycle_line, new_invoice, sweep
from .objects import emit, merge_metadata, render
from ..state import LIVE_STATUSES, Ledger

__all__ = ["LIVE_STATUSES", "change_items", "create_subscription", "interval_of", "period_of"]


def create_subscription(ledger: Ledger, customer: dict, items: list[dict], metadata: dict | None) -> dict:
    """``items``: [{"price": id, "quantity": int, "metadata": {}}]."""
    if not items:
        raise StripeError.missing("items")
    prices = [ledger.get(ledger.prices, "price", item["price"], f"items[{i}][price]")
              for i, item in enumerate(items)]
    intervals = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}
    if len(intervals) > 1:
        # Mixed intervals need flexible billing mode with per-item periods; not modelled.
        raise StripeError.state("The sandbox requires all prices on a subscription to share one billing interval.",
                                param="items")
    currencies = {p["currency"] for p in prices}
    if len(currencies) > 1:
        raise StripeError.state("All prices on a subscription must have the same currency.", param="items")
    currency = currencies.pop()
    charge_in(customer, currency, "items")
    now = ledger.now(customer["id"])
    interval, count = intervals.pop()
    end = billing.add_interval(now, interval, count, 1)
    sub_id = ledger.new_id("sub")
    sub = {"id": sub_id, "object": "subscription", "application": None,
           "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
           "billing_cycle_anchor": now, "billing_cycle_anchor_config": None,
           "billing_mode": {"type": "flexible", "flexible": None, "updated_at": None}, "billing_thresholds": None,
           "cancel_at": None, "cancel_at_period_end": False,
           "canceled_at": None, "cancellation_details": {"comment": None, "feedback": None, "reason": None},
           "collection_method": "charge_automatically", "created": now, "currency": currency,
           "customer": customer["id"], "days_until_due": None, "default_payment_method": None,
           "description": None, "discounts": [], "ended_at": None, "invoice_settings": {"issuer": {"type": "self"}},
           "item_ids": [], "latest_invoice": None, "livemode": False, "metadata": metadata or {},
           "pause_collection": None, "pending_invoice_item_interval": None, "pending_setup_intent": None,
           "pending_update": None, "schedule": None, "start_date": now, "status": None, "test_clock": customer["test_clock"], "trial_end": None,
           "trial_start": None}
    ledger.subscriptions[sub_id] = sub
    for item in items:
        new_item(ledger, sub, item["price"], item["quantity"], item.get("metadata"), now, end)
    invoice = new_invoice(ledger, customer, sub, "subscription_create", now, (now, now))
    for si in sub["item_ids"]:
        invoice["lines"].append(cycle_line(ledger, invoice, ledger.items[si], now, end))
    bill_now(ledger, sub, invoice)
    sub["status"] = "active" if invoice["status"] == "paid" else "incomplete"
    emit(ledger, "customer.subscription.created", sub)
    return sub


def new_item(ledger: Ledger, sub: dict, price_id: str, quantity: int, metadata: dict | None, start: int,
             end: int) -> dict:
    item = {"id": ledger.new_id("si"), "object": "subscription_item", "billing_thresholds": None,
            "created": ledger.now(sub["customer"]), "current_period_end": end, "current_period_start": start,
            "discounts": [], "metadata": metadata or {}, "price": price_id, "quantity": quantity,
            "subscription": sub["id"], "tax_rates": []}
    ledger.items[item["id"]] = item
    sub["item_ids"].append(item["id"])
    return item


def change_items(ledger: Ledger, sub: dict, changes: list[dict], *, proration_behavior: str,
                 proration_date: int | None, metadata: dict | None, by_schedule: bool = False) -> dict:
    """Apply item changes: [{"id"?, "price"?, "quantity"?, "deleted"?, "metadata"?, "param"}].

    Each changed item yields a credit for the old (price, quantity) over the
    unused time and a debit for the new one over the remaining time, each
    rounded on its own (reference §1).
    """
    if sub["status"] == "canceled":
        # stripe-python (Subscription.cancel): "After it's canceled, the subscription is largely immutable.
        # You can still update its metadata and cancellation_details."
        if changes:
            raise StripeError.state("A canceled subscription can only update its cancellation_details and "
                                    "metadata.", param="items")
        return _change_metadata(ledger, sub, metadata)
    if sub["status"] not in LIVE_STATUSES:
        raise StripeError.state(f"This subscription is {sub['status']} and cannot be updated.", param="items")
    if sub.get("schedule") and changes and not by_schedule:
        # What Stripe does to a schedule when its subscription's items are changed directly is not in
        # the reference (UNVERIFIED), so the sandbox refuses it: change the schedule's phases instead.
        raise StripeError.state("The sandbox does not model changing the items of a subscription that a "
                                "subscription schedule manages; update the schedule instead (UNVERIFIED).",
                                param="items")
    first = ledger.items[sub["item_ids"][0]]
    start, end = first["current_period_start"], first["current_period_end"]
    now = ledger.now(sub["customer"])
    at = now if proration_date is None else proration_date
    if proration_date is not None and not start <= proration_date <= end:
        raise StripeError.state("proration_date must be within the current billing period of the subscription.",
                                param="proration_date")
    previous_items = render(ledger, sub)["items"]
    plan = _plan(ledger, sub, changes)
    resulting: dict[str, str] = {i: ledger.items[i]["price"] for i in sub["item_ids"]}
    for n, (item, old, new, change) in enumerate(plan):
        key = item["id"] if item else f"new{n}"
        if new is None:
            resulting.pop(key, None)
            continue
        price = ledger.get(ledger.prices, "price", new[0], f"{change['param']}[price]")
        if price["currency"] != sub["currency"]:
            raise StripeError.state(f"The price's currency ({price['currency']}) must match the subscription's "
                                    f"({sub['currency']}).", param=f"{change['param']}[price]")
        resulting[key] = new[0]
    if not resulting:
        raise StripeError.state("A subscription must keep at least one item.", param="items")
    intervals = {price_interval(ledger, price_id) for price_id in resulting.values()}
    if len(intervals) > 1:
        # Mixed intervals need flexible billing with per-item periods; not modelled.
        raise StripeError.state("The sandbox requires all prices on a subscription to share one billing "
                                "interval.", param="items")
    new_interval = intervals.pop()
    customer = ledger.customers[sub["customer"]]
    if new_interval != interval_of(ledger, sub):
        return change_interval(ledger, sub, customer, plan, new_interval, proration_behavior, at, previous_items,
                               metadata)

    created_items: list[dict] = []
    changed = False
    for item, old, new, change in plan:
        if old == new and change.get("metadata") is None:
            continue
        if item is None:
            item = new_item(ledger, sub, new[0], new[1], change.get("metadata"), start, end)
        if change.get("metadata") is not None:
            item["metadata"] = change["metadata"]
        if old == new:
            changed = True
            continue
        changed = True
        if proration_behavior != "none":
            credit, debit = billing.proration_pair(
                (ledger.prices[old[0]]["unit_amount"], old[1]) if old else None,
                (ledger.prices[new[0]]["unit_amount"], new[1]) if new else None, start, end, at)
            for kind, amount, side in (("Unused", credit, old), ("Remaining", debit, new)):
                if side is not None and side[1]:
                    created_items.append(proration_item(ledger, customer, sub, item, side[0], side[1],
                                                        amount, kind, at, end))
        if new is None:
            sub["item_ids"].remove(item["id"])
            item["deleted"] = True
        else:
            item["price"], item["quantity"] = new
    previous = {"items": previous_items}
    if metadata is not None:
        previous["metadata"] = dict(sub["metadata"])
        sub["metadata"] = merge_metadata(sub["metadata"], metadata)
        changed = True
    if not changed:
        return sub
    for ii in created_items:
        emit(ledger, "invoiceitem.created", ii)
    emit(ledger, "customer.subscription.updated", sub, previous)
    if proration_behavior == "always_invoice" and created_items:
        invoice = new_invoice(ledger, customer, sub, "subscription_update", now, (now, now))
        sweep(ledger, invoice, customer, sub)
        bill_now(ledger, sub, invoice)
    return sub


def _change_metadata(ledger: Ledger, sub: dict, metadata: dict | None) -> dict:
    if metadata is not None:
        previous = {"metadata": dict(sub["metadata"])}
        sub["metadata"] = merge_metadata(sub["metadata"], metadata)
        emit(ledger, "customer.subscription.updated", sub, previous)
    return sub


def _plan(ledger: Ledger, sub: dict, changes: list[dict]) -> list[tuple]:
    """(item or None, old (price, qty) or None, new (price, qty) or None, change) per requested change."""
    plan: list[tuple[dict | None, tuple[str, int] | None, tuple[str, int] | None, dict]] = []
    seen: set[str] = set()
    for change in changes:
        param = change["param"]
        if change.get("id") is not None:
            item = ledger.items.get(change["id"])
            if item is None or item["subscription"] != sub["id"] or item.get("deleted"):
                raise StripeError.no_such("subscription item", change["id"], f"{param}[id]")
            if item["id"] in seen:
                raise StripeError.state("An item can only be changed once per request.", param=f"{param}[id]")
            seen.add(item["id"])
            old = (item["price"], item["quantity"])
            if change.get("deleted"):
                plan.append((item, old, None, change))
                continue
            price = change.get("price") or item["price"]
            # "When changing a subscription item's price, quantity is set to 1 unless
            # a quantity parameter is provided" (reference §1).
            if change.get("quantity") is not None:
                quantity = change["quantity"]
            elif change.get("price") and change["price"] != item["price"]:
                quantity = 1
            else:
                quantity = item["quantity"]
            plan.append((item, old, (price, quantity), change))
        else:
            if not change.get("price"):
                raise StripeError.missing(f"{param}[price]")
            plan.append((None, None, (change["price"], change.get("quantity", 1)), change))
    return plan


def period_of(ledger: Ledger, sub: dict) -> tuple[int, int]:
    """The current billing period ``(start, end)`` (all items share it)."""
    first = ledger.items[sub["item_ids"][0]]
    return first["current_period_start"], first["current_period_end"]


def price_interval(ledger: Ledger, price_id: str) -> tuple[str, int]:
    recurring = ledger.prices[price_id]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def interval_of(ledger: Ledger, sub: dict) -> tuple[str, int]:
    recurring = ledger.prices[ledger.items[sub["item_ids"][0]]["price"]]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def change_interval(ledger: Ledger, sub: dict, customer: dict, plan: list, interval: tuple[str, int],
                    proration_behavior: str, at: int, previous_items: dict, metadata: dict | None) -> dict:
    """Monthly↔yearly: the new price is billed at once for a new period starting
    now and the billing date moves; unused old time is credited unless
    ``proration_behavior=none`` (reference §1 proration_behavior, §4 CHG)."""
    first = ledger.items[sub["item_ids"][0]]
    end = first["current_period_end"]
    created_items = []
    if proration_behavior != "none":
        for si in sub["item_ids"]:
            item = ledger.items[si]
            if item["quantity"]:
                amount = -billing.prorated_amount(ledger.prices[item["price"]]["unit_amount"], item["quantity"],
                                                  item["current_period_start"], end, at)
                created_items.append(proration_item(ledger, customer, sub, item, item["price"], item["quantity"],
                                                    amount, "Unused", at, end))
    new_end = billing.add_interval(at, interval[0], interval[1], 1)
    for item, old, new, change in plan:
        if item is None:
            item = new_item(ledger, sub, new[0], new[1], change.get("metadata"), at, new_end)
        elif new is None:
            sub["item_ids"].remove(item["id"])
            item["deleted"] = True
            continue
        else:
            item["price"], item["quantity"] = new
        if change.get("metadata") is not None:
            item["metadata"] = change["metadata"]
    for si in sub["item_ids"]:
        ledger.items[si]["current_period_start"], ledger.items[si]["current_period_end"] = at, new_end
    previous = {"items": previous_items, "billing_cycle_anchor": sub["billing_cycle_anchor"]}
    sub["billing_cycle_anchor"] = at
    if metadata is not None:
        previous["metadata"] = dict(sub["metadata"])
        sub["metadata"] = merge_metadata(sub["metadata"], metadata)
    for ii in created_items:
        emit(ledger, "invoiceitem.created", ii)
    emit(ledger, "customer.subscription.updated", sub, previous)
    # The invoice is made by this call, so it is dated now, not at ``proration_date`` (which only says where
    # the prorations are computed from): an invoice is never created in the past.
    invoice = new_invoice(ledger, customer, sub, "subscription_update", ledger.now(customer["id"]), (at, at))
    sweep(ledger, invoice, customer, sub)
    for si in sub["item_ids"]:
        invoice["lines"].append(cycle_line(ledger, invoice, ledger.items[si], at, new_end))
    bill_now(ledger, sub, invoice)
    return sub


def proration_item(ledger: Ledger, customer: dict, sub: dict, item: dict, price_id: str, quantity: int,
                   amount: int, kind: str, at: int, end: int) -> dict:
    price = ledger.prices[price_id]
    product = ledger.products[price["product"]]
    label = billing.quantity_label(quantity, product["name"])
    ii = {"id": ledger.new_id("ii"), "object": "invoiceitem", "amount": amount, "currency": price["currency"],
          "customer": customer["id"], "customer_account": None, "date": ledger.now(customer["id"]),
          "description": f"{kind} time on {label} after {billing.format_date(at)}",
          "discountable": False, "discounts": [], "invoice": None, "livemode": False, "metadata": {},
          "net_amount": amount,
          "parent": {"type": "subscription_details",
                     "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]}},
          "period": {"start": at, "end": end},
          "pricing": {"type": "price_details", "price_details": {"price": price_id, "product": product["id"]},
                      "unit_amount_decimal": str(Decimal(amount) / quantity)},
          "proration": True, "proration_details": {"credited_items": None, "discount_amounts": []},
          "quantity": quantity, "quantity_decimal": str(quantity), "tax_rates": [],
          "test_clock": customer["test_clock"]}
    ledger.invoiceitems[ii["id"]] = ii
    return ii

