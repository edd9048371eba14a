"""Invoices, refundable credits applied to them, and payments (reference chargebee.md §2a, §2c)."""

from __future__ import annotations

from ..errors import ChargebeeError, invalid_state, not_found
from . import catalog
from .events import record
from .render import render_customer, render_subscription
from ..state import ChargebeeState


def _new_invoice(state: ChargebeeState, sub: dict, lines: list[dict], *, recurring: bool) -> dict:
    total = sum(line["amount"] for line in lines)
    invoice = {"id": state.next_id("invoice"), "customer_id": sub["customer_id"], "subscription_id": sub["id"],
               "recurring": recurring, "status": "payment_due", "price_type": "tax_exclusive", "date": state.now,
               "due_date": state.now, "net_term_days": 0, "generated_at": state.now, "exchange_rate": 1.0,
               "currency_code": sub["currency_code"], "sub_total": total, "tax": 0, "total": total,
               "amount_paid": 0, "amount_adjusted": 0, "write_off_amount": 0, "credits_applied": 0,
               "amount_due": total, "round_off_amount": 0,
               "first_invoice": not state.invoices_by_subscription.has(sub["id"]),
               "has_advance_charges": False, "term_finalized": True, "is_gifted": False, "channel": "web",
               "deleted": False, "object": "invoice", "line_items": lines, "applied_credits": [],
               "adjustment_credit_notes": [], "issued_credit_notes": [], "linked_payments": []}
    state.invoices[invoice["id"]] = invoice
    return invoice


def touch_invoice(state: ChargebeeState, invoice: dict) -> None:
    """Bump the invoice, and its subscription too: ``due_invoices_count``, ``total_dues``
    and ``due_since`` are subscription attributes, so a change in what is due is a
    change to the subscription (sandbox reading of "every change bumps resource_version")."""
    state.touch(invoice)
    sub = state.subscriptions.get(invoice.get("subscription_id") or "")
    if sub is not None:
        state.touch(sub)


def settle_if_covered(state: ChargebeeState, invoice: dict) -> None:
    if invoice["amount_due"] == 0 and invoice["status"] != "paid":
        invoice["status"] = "paid"
        invoice["paid_at"] = state.now
        invoice.pop("dunning_status", None)


def _apply_refundable_credits(state: ChargebeeState, invoice: dict) -> None:
    """Available refundable credits of the customer pay the invoice first, oldest first."""
    for cn in state.available_credits.objects(invoice["customer_id"]):
        if invoice["amount_due"] == 0:
            break
        if cn["currency_code"] != invoice["currency_code"]:
            continue
        applied = min(cn["amount_available"], invoice["amount_due"])
        invoice["amount_due"] -= applied
        invoice["credits_applied"] += applied
        invoice["applied_credits"].append({"cn_id": cn["id"], "applied_amount": applied, "applied_at": state.now,
                                           "cn_reason_code": cn["reason_code"], "cn_date": cn["date"],
                                           "cn_status": cn["status"]})
        cn["amount_available"] -= applied
        cn["amount_allocated"] += applied
        cn["allocations"].append({"invoice_id": invoice["id"], "allocated_amount": applied,
                                  "allocated_at": state.now, "invoice_date": invoice["date"],
                                  "invoice_status": "paid" if invoice["amount_due"] == 0 else invoice["status"]})
        if cn["amount_available"] == 0:
            # Fully used: nothing is left to refund (credit note status "refunded"; unverified wording).
            cn["status"] = "refunded"
        state.touch(cn)
        record(state, "credit_note_updated", {"credit_note": cn})


def collect(state: ChargebeeState, invoice: dict) -> dict | None:
    """Charge the customer's test card for the amount due. Returns the transaction."""
    customer = state.customers[invoice["customer_id"]]
    outcome = catalog.payment_succeeds(customer)
    if invoice["amount_due"] == 0 or outcome is None:
        return None
    amount = invoice["amount_due"]
    txn = {"id": state.next_id("txn"), "customer_id": customer["id"], "subscription_id": invoice.get("subscription_id"),
           "payment_method": "card", "gateway": "chargebee", "gateway_account_id": "gw_sandbox", "type": "payment",
           "date": state.now, "amount": amount, "currency_code": invoice["currency_code"], "deleted": False,
           "object": "transaction", "linked_invoices": []}
    if outcome:
        txn["status"] = "success"
        txn["linked_invoices"].append({"invoice_id": invoice["id"], "applied_amount": amount, "applied_at": state.now,
                                       "invoice_date": invoice["date"], "invoice_total": invoice["total"],
                                       "invoice_status": "paid"})
        invoice["amount_paid"] += amount
        invoice["amount_due"] = 0
        invoice["linked_payments"].append({"txn_id": txn["id"], "applied_amount": amount, "applied_at": state.now,
                                           "txn_status": "success", "txn_date": state.now, "txn_amount": amount})
        settle_if_covered(state, invoice)
    else:
        txn.update(status="failure", error_code="card_declined", error_text="Your card was declined.")
        invoice["status"] = "payment_due"
        invoice["dunning_status"] = "in_progress"
        invoice["linked_payments"].append({"txn_id": txn["id"], "applied_amount": 0, "applied_at": state.now,
                                           "txn_status": "failure", "txn_date": state.now, "txn_amount": amount})
    state.touch(txn)
    touch_invoice(state, invoice)
    state.transactions[txn["id"]] = txn
    # Rendered after the payment so the snapshots show what is due now.
    content = {"transaction": txn, "invoice": invoice, "customer": render_customer(state, customer)}
    sub = state.subscriptions.get(invoice.get("subscription_id") or "")
    if sub is not None:
        content["subscription"] = render_subscription(state, sub)
    record(state, "payment_succeeded" if outcome else "payment_failed", content)
    return txn


def issue_invoice(state: ChargebeeState, sub: dict, lines: list[dict], *, recurring: bool) -> dict:
    invoice = _new_invoice(state, sub, lines, recurring=recurring)
    _apply_refundable_credits(state, invoice)
    settle_if_covered(state, invoice)
    auto_collection = sub.get("auto_collection", state.customers[sub["customer_id"]]["auto_collection"])
    if invoice["status"] != "paid" and auto_collection == "off":
        invoice["status"] = "posted"
    if invoice["status"] == "payment_due" and auto_collection == "on":
        # Collected before the invoice is announced, so invoice_generated shows the
        # outcome (paid, or payment_due in dunning) and follows the payment event.
        collect(state, invoice)
    touch_invoice(state, invoice)
    record(state, "invoice_generated", {"invoice": invoice})
    return invoice


def collect_payment(state: ChargebeeState, invoice_id: str) -> tuple[dict, dict]:
    invoice = state.invoices.get(invoice_id)
    if invoice is None:
        raise not_found("invoice_id", f"Sorry, we couldn't find that resource: invoice {invoice_id}")
    if invoice["status"] not in ("payment_due", "not_paid", "posted") or invoice["amount_due"] == 0:
        raise invalid_state(f"Invoice {invoice_id} is {invoice['status']}; there is nothing to collect.")
    customer = state.customers[invoice["customer_id"]]
    if catalog.payment_succeeds(customer) is None:
        raise ChargebeeError(400, "payment_method_not_present", "No payment method is present for the customer.",
                             type="payment")
    # A declined card is still recorded (failed transaction, dunning); the
    # caller answers 400 payment_processing_failed after publishing the events.
    txn = collect(state, invoice)
    if txn["status"] == "success":
        record(state, "invoice_updated", {"invoice": invoice})  # amount due changed by the payment
    return invoice, txn
