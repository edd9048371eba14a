"""``estimates/update_subscription_for_items``: the change run and rolled back (reference chargebee.md §4)."""

from __future__ import annotations

from .. import params as p
from .render import render_subscription
from .renewals import renew
from .subscriptions import update_for_items
from ..state import ChargebeeState, public


def estimate_update_for_items(state: ChargebeeState, sub_id: str, prm: dict) -> dict:
    """Run the change and describe what it created; the caller rolls it all back (``write(dry_run=True)``)."""
    created_at = state.now
    sub, outcome = update_for_items(state, sub_id, prm)
    estimate = {"created_at": created_at, "object": "estimate",
                "subscription_estimate": {"id": sub["id"], "status": sub["status"],
                                          "currency_code": sub["currency_code"],
                                          "next_billing_at": render_subscription(state, sub)["next_billing_at"],
                                          "object": "subscription_estimate"},
                "credit_note_estimates": [_credit_note_estimate(cn) for cn in outcome.credit_notes]}
    if not p.boolean(prm, "invoice_immediately", state.settings.invoice_immediately):
        estimate["unbilled_charge_estimates"] = public(state.open_unbilled.objects(sub["id"]))
    if outcome.invoice is not None:
        estimate["invoice_estimate"] = _invoice_estimate(outcome.invoice)
    else:
        renewal = renew(state, sub)  # what the next renewal would bill, rolled back with the rest
        if renewal is not None:
            estimate["next_invoice_estimate"] = _invoice_estimate(renewal)
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
