"""Invoices: lines, sweeping pending items, finalizing (customer balance), payments (reference stripe.md §1-§2)."""

from __future__ import annotations

import copy

from .. import billing
from ..currency import ACCOUNT_CURRENCY, format_amount
from ..errors import StripeError
from .customers import add_balance_transaction
from .objects import emit
from ..state import Ledger, owner_subscription

USD_MINIMUM_CHARGE = 50  # minor units; smaller amounts due go to the balance (reference §1 Credits)

# Stripe's documented test payment methods that attach but fail when charged,
# plus the plain decline cards. Anything else named pm_card_* succeeds.
FAILING_PAYMENT_METHODS = frozenset({
    "pm_card_chargeCustomerFail",
    "pm_card_chargeDeclined",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_chargeDeclinedProcessingError",
})


def invoice_currency(customer: dict, sub: dict | None) -> str:
    """A subscription's invoices are in its prices' currency; another invoice in the customer's
    (``InvoiceCreateParams.currency``: "Defaults to that of customer"), else the account's
    (a customer without a currency yet; sandbox reading, unverified)."""
    if sub is not None:
        return sub["currency"]
    return customer["currency"] or ACCOUNT_CURRENCY


def new_invoice(ledger: Ledger, customer: dict, sub: dict | None, reason: str, at: int,
                period: tuple[int, int]) -> dict:
    invoice = {"id": ledger.new_id("in"), "object": "invoice", "account_country": "US", "account_name": "Sandbox",
               "account_tax_ids": None, "amount_due": 0, "amount_overpaid": 0, "amount_paid": 0,
               "amount_remaining": 0, "amount_shipping": 0, "application": None, "attempt_count": 0,
               "attempted": False, "auto_advance": False,
               "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None,
                                 "provider": None, "status": None},
               "automatically_finalizes_at": None, "billing_reason": reason,
               "collection_method": "charge_automatically", "created": at, "currency": invoice_currency(customer, sub),
               "custom_fields": None, "customer": customer["id"], "customer_account": None,
               "customer_email": customer["email"], "customer_name": customer["name"],
               "default_payment_method": None, "default_tax_rates": [], "description": None, "discounts": [],
               "due_date": None, "effective_at": None, "ending_balance": None, "footer": None,
               "from_invoice": None, "hosted_invoice_url": None, "invoice_pdf": None,
               "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
               "lines": [], "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": None,
               "on_behalf_of": None,
               "parent": ({"type": "subscription_details", "quote_details": None,
                           "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"],
                                                    "subscription_proration_date": None}} if sub else None),
               "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                    "payment_method_types": None},
               "period_end": period[1], "period_start": period[0], "post_payment_credit_notes_amount": 0,
               "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
               "shipping_cost": None, "shipping_details": None, "starting_balance": 0,
               "statement_descriptor": None, "status": "draft",
               "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                      "paid_at": None, "voided_at": None},
               "subtotal": 0, "subtotal_excluding_tax": 0, "test_clock": customer["test_clock"],
               "threshold_reason": None, "total": 0, "total_discount_amounts": [], "total_excluding_tax": 0,
               "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": at}
    ledger.invoices[invoice["id"]] = invoice
    return invoice


def cycle_line(ledger: Ledger, invoice: dict, item: dict, start: int, end: int) -> dict:
    price = ledger.prices[item["price"]]
    product = ledger.products[price["product"]]
    amount = price["unit_amount"] * item["quantity"]
    interval = price["recurring"]["interval"]
    return {"id": ledger.new_id("il"), "object": "line_item", "amount": amount, "currency": price["currency"],
            "description": f"{item['quantity']} × {product['name']} (at "
                           f"{format_amount(price['unit_amount'], price['currency'])} / {interval})",
            "discount_amounts": [], "discountable": True, "discounts": [], "invoice": invoice["id"],
            "livemode": False, "metadata": dict(item["metadata"]),
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"invoice_item": None, "proration": False,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": item["subscription"],
                                                     "subscription_item": item["id"]}},
            "period": {"start": start, "end": end}, "pretax_credit_amounts": [],
            "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": product["id"]},
                        "unit_amount_decimal": str(price["unit_amount"])},
            "quantity": item["quantity"], "quantity_decimal": str(item["quantity"]), "subtotal": amount,
            "taxes": []}


def item_line(ledger: Ledger, invoice: dict, ii: dict) -> dict:
    details = ii["parent"]["subscription_details"] if ii["parent"] else None
    if details:
        parent = {"type": "subscription_item_details", "invoice_item_details": None,
                  "subscription_item_details": {"invoice_item": ii["id"], "proration": ii["proration"],
                                                "proration_details": {"credited_items": None},
                                                "subscription": details["subscription"],
                                                "subscription_item": details["subscription_item"]}}
    else:
        parent = {"type": "invoice_item_details", "subscription_item_details": None,
                  "invoice_item_details": {"invoice_item": ii["id"], "proration": ii["proration"],
                                           "proration_details": {"credited_items": None},
                                           "subscription": None}}
    return {"id": ledger.new_id("il"), "object": "line_item", "amount": ii["amount"], "currency": ii["currency"],
            "description": ii["description"], "discount_amounts": [], "discountable": ii["discountable"],
            "discounts": [], "invoice": invoice["id"], "livemode": False, "metadata": dict(ii["metadata"]),
            "parent": parent, "period": dict(ii["period"]), "pretax_credit_amounts": [],
            "pricing": copy.deepcopy(ii["pricing"]), "quantity": ii["quantity"],
            "quantity_decimal": ii["quantity_decimal"], "subtotal": ii["amount"], "taxes": []}


def pending_items(ledger: Ledger, customer_id: str, subscription_id: str | None = None) -> list[dict]:
    return [ii for ii in ledger.pending_items.objects(customer_id)
            if subscription_id is None or owner_subscription(ii) == subscription_id]


def sweep(ledger: Ledger, invoice: dict, customer: dict, sub: dict | None) -> None:
    """Attach pending items: a subscription invoice takes that subscription's
    items plus the customer's one-off items; a manual invoice without
    ``subscription`` takes all of the customer's."""
    for ii in pending_items(ledger, customer["id"]):
        owner = ii["parent"]["subscription_details"]["subscription"] if ii["parent"] else None
        if sub is None or owner in (None, sub["id"]):
            ii["invoice"] = invoice["id"]
            invoice["lines"].append(item_line(ledger, invoice, ii))


def total(ledger: Ledger, invoice: dict) -> None:
    total = sum(line["amount"] for line in invoice["lines"])
    invoice.update(subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total)
    if invoice["status"] == "draft":
        invoice["amount_due"] = invoice["amount_remaining"] = max(total, 0)


def create_invoice(ledger: Ledger, customer: dict, *, subscription: dict | None, pending_behavior: str,
                   auto_advance: bool | None, description: str | None, metadata: dict | None) -> dict:
    if subscription is not None and subscription["customer"] != customer["id"]:
        raise StripeError.state("The subscription does not belong to this customer.", param="subscription")
    now = ledger.now(customer["id"])
    invoice = new_invoice(ledger, customer, subscription, "manual", now, (now, now))
    invoice["description"] = description
    invoice["metadata"] = metadata or {}
    if auto_advance:
        # Stripe finalizes API-created invoices with auto_advance about an hour later (reference §2).
        invoice["auto_advance"] = True
        invoice["automatically_finalizes_at"] = now + 3600
    if pending_behavior == "include":
        sweep(ledger, invoice, customer, subscription)
    total(ledger, invoice)
    emit(ledger, "invoice.created", invoice)
    return invoice


def finalize_invoice(ledger: Ledger, invoice: dict, *, automatic: bool = False, apply_balance: bool = True) -> dict:
    if invoice["status"] != "draft":
        raise StripeError.state("This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                                param="invoice")
    customer = ledger.customers[invoice["customer"]]
    now = ledger.now(customer["id"])
    total = invoice["total"]
    starting = customer["balance"]
    amount_due, ending = billing.apply_balance(total, starting) if apply_balance else (max(total, 0), starting)
    if ending != starting:
        add_balance_transaction(ledger, customer, ending - starting, "applied_to_invoice", invoice=invoice["id"])
    ledger.invoice_number += 1
    invoice.update(status="open", starting_balance=starting, ending_balance=ending, amount_due=amount_due,
                   amount_remaining=amount_due, number=f"{customer['invoice_prefix']}-{ledger.invoice_number:04d}",
                   effective_at=now, automatically_finalizes_at=None)
    invoice["status_transitions"]["finalized_at"] = now
    emit(ledger, "invoice.finalized", invoice, automatic=automatic)
    if amount_due == 0:
        mark_paid(ledger, invoice, now, automatic)
    elif amount_due < USD_MINIMUM_CHARGE and invoice["currency"] == "usd":
        # Below the minimum charge: marked paid, the amount moves to the balance
        # and is collected with the next invoice (reference §1 Credits).
        add_balance_transaction(ledger, customer, amount_due, "invoice_too_small", invoice=invoice["id"])
        invoice["amount_remaining"] = 0
        mark_paid(ledger, invoice, now, automatic)
    return invoice


def mark_paid(ledger: Ledger, invoice: dict, now: int, automatic: bool) -> None:
    invoice["status"] = "paid"
    invoice["status_transitions"]["paid_at"] = now
    emit(ledger, "invoice.paid", invoice, automatic=automatic)


def attempt_payment(ledger: Ledger, invoice: dict, *, automatic: bool = False) -> bool:
    """Charge the customer's default payment method; True if it succeeded."""
    if invoice["status"] == "draft":
        finalize_invoice(ledger, invoice, automatic=automatic)
    if invoice["status"] == "paid":
        return True
    if invoice["status"] != "open":
        raise StripeError.state(f"You cannot pay an invoice with status {invoice['status']}.", param="invoice")
    customer = ledger.customers[invoice["customer"]]
    now = ledger.now(customer["id"])
    method = customer["invoice_settings"]["default_payment_method"]
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    sub_id = invoice["parent"]["subscription_details"]["subscription"] if invoice["parent"] else None
    sub = ledger.subscriptions.get(sub_id) if sub_id else None
    if method is not None and method not in FAILING_PAYMENT_METHODS:
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        mark_paid(ledger, invoice, now, automatic)
        emit(ledger, "invoice.payment_succeeded", invoice, automatic=automatic)
        if sub is not None and sub["status"] in ("past_due", "incomplete") and sub["latest_invoice"] == invoice["id"]:
            previous = {"status": sub["status"]}
            sub["status"] = "active"
            emit(ledger, "customer.subscription.updated", sub, previous, automatic=automatic)
        return True
    emit(ledger, "invoice.payment_failed", invoice, automatic=automatic)
    if sub is not None and sub["status"] == "active" and invoice["billing_reason"] != "subscription_create":
        sub["status"] = "past_due"
        emit(ledger, "customer.subscription.updated", sub, {"status": "active"}, automatic=automatic)
    return False


def bill_now(ledger: Ledger, sub: dict, invoice: dict) -> None:
    """Total the subscription's new invoice, announce it, finalize it and charge it at once."""
    total(ledger, invoice)
    sub["latest_invoice"] = invoice["id"]
    emit(ledger, "invoice.created", invoice)
    finalize_invoice(ledger, invoice)
    if invoice["status"] == "open":
        attempt_payment(ledger, invoice)
