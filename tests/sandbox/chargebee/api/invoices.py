"""``/api/v2`` unbilled charges, invoices (with ``collect_payment``) and credit notes."""

from __future__ import annotations

from flask import Blueprint

from .. import params as p
from .http import candidates, current_state, listing, match_string, read, sorted_by, write
from ..errors import ChargebeeError, not_found, wrong_value
from ..ops import catalog, invoices, renewals, subscriptions
from ..state import public

bp = Blueprint("invoices", __name__)


@bp.get("/unbilled_charges")
def list_unbilled():
    state = current_state()

    def operation(prm):
        include_deleted = p.boolean(prm, "include_deleted", False)
        # chargebee-python declares is_voided a plain boolean (UnbilledCharge.ListParams), default false;
        # the is_voided[is] form is refused as undeclared. true lists only the voided charges, false
        # (or absent) only the others: the sandbox's reading (UNVERIFIED; the reference gives no more).
        want_voided = p.boolean(prm, "is_voided", False)
        charges = [uc for uc in candidates(prm, state.unbilled_charges,
                                           {"subscription_id": state.unbilled_by_subscription,
                                            "customer_id": state.unbilled_by_customer})
                   if (include_deleted or not uc["deleted"]) and uc["is_voided"] == want_voided
                   and match_string(prm, "subscription_id", uc["subscription_id"])
                   and match_string(prm, "customer_id", uc["customer_id"])]
        return listing(charges, "unbilled_charge", prm)
    return read(operation, declared="UnbilledCharge.ListParams")


@bp.post("/unbilled_charges/invoice_unbilled_charges")
def invoice_unbilled_charges():
    state = current_state()

    def operation(prm):
        sub_id = p.string(prm, "subscription_id")
        customer_id = p.string(prm, "customer_id")
        if (sub_id is None) == (customer_id is None):
            raise wrong_value("subscription_id", "pass either subscription_id or customer_id")
        if sub_id is not None:
            subs = [subscriptions.get_subscription(state, sub_id)]
        else:
            catalog.get_customer(state, customer_id)
            subs = state.subscriptions_by_customer.objects(customer_id)
        issued = [inv for inv in (renewals.invoice_unbilled(state, sub) for sub in subs) if inv is not None]
        return {"invoices": public(issued)}, 200
    return write(operation, declared="UnbilledCharge.InvoiceUnbilledChargesParams")


@bp.get("/invoices")
def list_invoices():
    state = current_state()

    def operation(prm):
        found = [inv for inv in candidates(prm, state.invoices, {"subscription_id": state.invoices_by_subscription,
                                                                 "customer_id": state.invoices_by_customer})
                 if match_string(prm, "subscription_id", inv.get("subscription_id"))
                 and match_string(prm, "customer_id", inv["customer_id"])
                 and match_string(prm, "status", inv["status"])]
        return listing(sorted_by(found, prm, "date"), "invoice", prm)
    return read(operation, declared="Invoice.ListParams")


@bp.get("/invoices/<invoice_id>")
def retrieve_invoice(invoice_id):
    state = current_state()

    def operation(prm):
        invoice = state.invoices.get(invoice_id)
        if invoice is None:
            raise not_found("invoice_id", f"Sorry, we couldn't find that resource: invoice {invoice_id}")
        return {"invoice": public(invoice)}
    return read(operation, declared="Invoice.RetrieveParams")


@bp.post("/invoices/<invoice_id>/collect_payment")
def collect_payment(invoice_id):
    state = current_state()

    def operation(prm):
        invoice, txn = invoices.collect_payment(state, invoice_id)
        if txn["status"] != "success":
            # The failed attempt stays recorded (failed transaction, dunning,
            # payment_failed event), so this is an answer, not a rollback.
            return ChargebeeError(400, "payment_processing_failed", "Your card was declined.",
                                  type="payment").body(), 400
        return {"invoice": public(invoice), "transaction": public(txn)}, 200
    return write(operation, declared="Invoice.CollectPaymentParams")


@bp.get("/credit_notes")
def list_credit_notes():
    state = current_state()

    def operation(prm):
        notes = [cn for cn in candidates(prm, state.credit_notes,
                                         {"subscription_id": state.credit_notes_by_subscription,
                                          "customer_id": state.credit_notes_by_customer})
                 if match_string(prm, "subscription_id", cn.get("subscription_id"))
                 and match_string(prm, "customer_id", cn["customer_id"])
                 and match_string(prm, "type", cn["type"])
                 and match_string(prm, "reference_invoice_id", cn.get("reference_invoice_id"))]
        return listing(sorted_by(notes, prm, "date"), "credit_note", prm)
    return read(operation, declared="CreditNote.ListParams")


@bp.get("/credit_notes/<cn_id>")
def retrieve_credit_note(cn_id):
    state = current_state()

    def operation(prm):
        cn = state.credit_notes.get(cn_id)
        if cn is None:
            raise not_found("credit_note_id", f"Sorry, we couldn't find that resource: credit_note {cn_id}")
        return {"credit_note": public(cn)}
    return read(operation, declared="CreditNote.RetrieveParams")
