"""Subscriptions and customers as the API shows them.

Subscriptions are rendered on the way out because their term fields depend on
the billing mode; a customer's balances are derived from its credit notes and
unbilled charges.
"""

from __future__ import annotations

from ..proration import entry_months, full_amount
from ..state import ChargebeeState, public
from ..terms import shown_end


def render_subscription(state: ChargebeeState, sub: dict) -> dict:
    mode = state.settings.billing_mode
    shown = public(sub)
    term_end = shown_end(sub["_term_end_ms"], mode)
    shown.update(current_term_start=sub["_term_start_ms"] // 1000, current_term_end=term_end,
                 next_billing_at=term_end, billing_period=sub["_period"], billing_period_unit=sub["_period_unit"])
    items, mrr = [], 0
    for entry in sub["_items"]:
        price = state.item_prices[entry["item_price_id"]]
        amount = full_amount(price, entry["quantity"])
        months = entry_months(price)
        mrr += amount // months if months else 0
        item = {"item_price_id": price["id"], "item_type": price["item_type"], "unit_price": price["price"],
                "amount": amount, "free_quantity": price.get("free_quantity", 0), "object": "subscription_item"}
        if price["pricing_model"] == "per_unit":
            item["quantity"] = entry["quantity"]
        if entry.get("proration_type"):
            item["proration_type"] = entry["proration_type"]
        if price["item_type"] in ("plan", "addon"):
            item.update(billing_period=price["period"], billing_period_unit=price["period_unit"],
                        current_term_start=shown["current_term_start"], current_term_end=term_end,
                        next_billing_at=term_end)
        items.append(item)
    shown["subscription_items"] = items
    shown["mrr"] = mrr
    due = state.due_invoices.objects(sub["id"])
    shown["due_invoices_count"] = len(due)
    shown["total_dues"] = sum(inv["amount_due"] for inv in due)
    if due:
        shown["due_since"] = min(inv["due_date"] for inv in due)
    return shown


def balances(state: ChargebeeState, customer: dict) -> tuple[int, int]:
    """(refundable credits, unbilled charges): derived from credit notes and unbilled charges."""
    refundable = sum(cn["amount_available"] for cn in state.available_credits.objects(customer["id"]))
    unbilled = sum(uc["amount"] for uc in state.open_unbilled_by_customer.objects(customer["id"]))
    return refundable, unbilled


def render_customer(state: ChargebeeState, customer: dict, *, refresh: bool = True) -> dict:
    """The customer as the API shows it. ``refresh`` (write paths only) stores changed
    balances and bumps ``resource_version``; reads never write."""
    refundable, unbilled = balances(state, customer)
    if refresh and (customer["refundable_credits"], customer["unbilled_charges"]) != (refundable, unbilled):
        customer["refundable_credits"], customer["unbilled_charges"] = refundable, unbilled
        state.touch(customer)
    shown = public(customer)
    shown.update(refundable_credits=refundable, unbilled_charges=unbilled)
    shown["balances"] = [{"promotional_credits": customer["promotional_credits"],
                          "excess_payments": customer["excess_payments"],
                          "refundable_credits": refundable,
                          "unbilled_charges": unbilled,
                          "currency_code": customer["preferred_currency_code"],
                          "balance_currency_code": customer["preferred_currency_code"],
                          "object": "customer_balance"}]
    return shown
