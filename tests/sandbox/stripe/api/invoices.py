"""``/v1/invoiceitems``, ``/v1/invoices`` (create, finalize, pay, list) and ``/v1/invoices/create_preview``."""

from __future__ import annotations

from flask import Blueprint

from .. import params as P
from .http import check_supported, created_filter, newest_first, paginate, run
from .subscriptions import PRORATION_BEHAVIORS, item_changes
from ..errors import StripeError
from ..ops import invoices, preview
from ..ops.objects import render
from ..state import Ledger, owner_subscription

bp = Blueprint("invoices", __name__)


@bp.get("/invoiceitems")
def list_invoice_items():
    def act(ledger: Ledger, p: dict):
        pending = P.as_bool(p, "pending")
        items = [ii for ii in newest_first(ledger.invoiceitems, p, {"customer": ledger.invoiceitems_by_customer})
                 if p.get("customer") in (None, ii["customer"]) and p.get("invoice") in (None, ii["invoice"])
                 and (pending is None or (ii["invoice"] is None) == pending) and not ii.get("deleted")]
        return paginate(items, p, "/v1/invoiceitems", lambda obj: render(ledger, obj))
    return run("InvoiceItemListParams", {"customer", "pending", "invoice", "limit", "starting_after",
                                         "ending_before", "expand"}, act)


@bp.get("/invoiceitems/<ii>")
def retrieve_invoice_item(ii):
    def act(ledger: Ledger, p: dict):
        item = ledger.get(ledger.invoiceitems, "invoiceitem", ii)
        if item.get("deleted"):  # removed by a cancellation (ops/lifecycle.py)
            raise StripeError.no_such("invoiceitem", ii)
        return render(ledger, item)
    return run("InvoiceItemRetrieveParams", {"expand"}, act)


@bp.post("/invoices")
def create_invoice():
    def act(ledger: Ledger, p: dict):
        if not p.get("customer"):
            raise StripeError.missing("customer")
        customer = ledger.get(ledger.customers, "customer", p["customer"], "customer")
        sub = ledger.get(ledger.subscriptions, "subscription", p["subscription"], "subscription") \
            if p.get("subscription") else None
        behavior = P.as_choice(p, "pending_invoice_items_behavior", ("include", "exclude")) or "exclude"
        return render(ledger, invoices.create_invoice(
            ledger, customer, subscription=sub, pending_behavior=behavior, auto_advance=P.as_bool(p, "auto_advance"),
            description=p.get("description"), metadata=P.as_metadata(p)))
    return run("InvoiceCreateParams", {"customer", "subscription", "pending_invoice_items_behavior",
                                       "auto_advance", "description", "metadata", "expand"}, act)


@bp.post("/invoices/<iid>/finalize")
def finalize_invoice(iid):
    def act(ledger: Ledger, p: dict):
        invoice = ledger.get(ledger.invoices, "invoice", iid)
        auto_advance = P.as_bool(p, "auto_advance")
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        return render(ledger, invoices.finalize_invoice(ledger, invoice))
    return run("InvoiceFinalizeInvoiceParams", {"auto_advance", "expand"}, act)


@bp.post("/invoices/<iid>/pay")
def pay_invoice(iid):
    def act(ledger: Ledger, p: dict):
        invoice = ledger.get(ledger.invoices, "invoice", iid)
        if invoice["status"] == "paid":
            raise StripeError.state("Invoice is already paid", param="invoice")
        if not invoices.attempt_payment(ledger, invoice):
            raise StripeError(402, "card_error", "Your card was declined.", code="card_declined",
                              extra={"decline_code": "generic_decline"})
        return render(ledger, invoice)
    return run("InvoicePayParams", {"expand"}, act)


@bp.get("/invoices/<iid>")
def retrieve_invoice(iid):
    return run("InvoiceRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.invoices, "invoice", iid)))


@bp.get("/invoices")
def list_invoices():
    def act(ledger: Ledger, p: dict):
        created = created_filter(p.get("created"), "created")
        candidates = newest_first(ledger.invoices, p, {"subscription": ledger.invoices_by_subscription,
                                                       "customer": ledger.invoices_by_customer})
        found = [inv for inv in candidates
                 if p.get("customer") in (None, inv["customer"]) and p.get("status") in (None, inv["status"])
                 and p.get("subscription") in (None, owner_subscription(inv)) and created(inv["created"])]
        return paginate(found, p, "/v1/invoices", lambda obj: render(ledger, obj))
    return run("InvoiceListParams", {"customer", "subscription", "status", "created", "limit", "starting_after",
                                     "ending_before", "expand"}, act)


@bp.post("/invoices/create_preview")
def create_preview():
    def act(ledger: Ledger, p: dict):
        if not p.get("subscription"):
            raise StripeError.missing("subscription")
        sub = ledger.get(ledger.subscriptions, "subscription", p["subscription"], "subscription")
        if p.get("customer") and p["customer"] != sub["customer"]:
            raise StripeError.invalid("The subscription does not belong to this customer.", param="customer")
        details = p.get("subscription_details") or {}
        if not isinstance(details, dict):
            raise StripeError.invalid("Invalid object", param="subscription_details")
        check_supported(details, {"items", "proration_behavior", "proration_date"}, "subscription_details")
        behavior = P.as_choice(details, "proration_behavior", PRORATION_BEHAVIORS,
                               where="subscription_details[proration_behavior]") or "create_prorations"
        proration_date = P.as_int(details, "proration_date", where="subscription_details[proration_date]")
        changes = item_changes(details.get("items") or [], "subscription_details[items]")
        if proration_date is not None and not changes:
            raise StripeError.invalid("When proration_date is set, subscription_details[items] is required.",
                                      param="subscription_details[proration_date]")
        if proration_date is not None and behavior == "none":
            raise StripeError.invalid("proration_date cannot be set when proration_behavior is none.",
                                      param="subscription_details[proration_behavior]")
        return preview.preview(ledger, ledger.customers[sub["customer"]], sub, changes=changes,
                               proration_behavior=behavior, proration_date=proration_date)
    return run("InvoiceCreatePreviewParams", {"customer", "subscription", "subscription_details", "expand"}, act)
