"""``estimates/update_subscription_for_items``: the change run on a copy of the site (reference chargebee.md §4)."""

from __future__ import annotations

from tests.sandbox.chargebee import params as p
from tests.sandbox.chargebee.ops.render import render_subscription
from tests.sandbox.chargebee.ops.renewals import renew
from tests.sandbox.chargebee.ops.subscriptions import update_for_items
from tests.sandbox.chargebee.state import ChargebeeState, public


def estimate_update_for_items(state: ChargebeeState, sub_id: str, prm: dict) -> dict:
    """Run the change on a copy of the site and describe what it would create."""
    twin = state.snapshot()
    sub, outcome = update_for_items(twin, sub_id, prm)
    estimate = {"created_at": state.now, "object": "estimate",
                "subscription_estimate": {"id": sub["id"], "status": sub["status"],
                                          "currency_code": sub["currency_code"],
                                          "next_billing_at": render_subscription(twin, sub)["next_billing_at"],
                                          "object": "subscription_estimate"},
                "credit_note_estimates": [_credit_note_estimate(cn) for cn in outcome.credit_notes]}
    if outcome.invoice is not None:
        estimate["invoice_estimate"] = _invoice_estimate(outcome.invoice)
    else:
        future = twin.snapshot()
        renewal = renew(future, future.subscriptions[sub["id"]])
        if renewal is not None:
            estimate["next_invoice_estimate"] = _invoice_estimate(renewal)
    if not p.boolean(prm, "invoice_immediately", state.settings.invoice_immediately):
        estimate["unbilled_charge_estimates"] = public(
            [uc for uc in twin.unbilled_charges.values()
             if uc["subscription_id"] == sub["id"] and not uc["is_voided"] and not uc["deleted"]])
    return estimate


def _invoice_estimate(invoice: dict) -> dict:
    keys = ("recurring", "price_type", "sub_total", "total", "credits_applied", "amount_paid", "amount_due",
            "round_off_amount", "currency_code", "line_items")
    shown = {k: invoice[k] for k in keys}
    # An estimate is before collection: what would be due once credits are applied.
    shown.update(amount_paid=0, amount_due=invoice["total"] - invoice["credits_applied"], object="invoice_estimate")
    return public(shown)


def _credit_note_estimate(cn: dict) -> dict:
    keys = ("type", "price_type", "sub_total", "total", "amount_allocated", "amount_available",
            "round_off_amount", "currency_code", "line_items")
    shown = {k: cn[k] for k in keys}
    if "reference_invoice_id" in cn:
        shown["reference_invoice_id"] = cn["reference_invoice_id"]
    shown["object"] = "credit_note_estimate"
    return public(shown)
