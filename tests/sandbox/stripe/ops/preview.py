"""``create_preview``: what an update would bill, computed on the ledger and undone (reference stripe.md §3)."""

from __future__ import annotations

from .. import billing
from .invoices import cycle_line, item_line, new_invoice, pending_items, sweep, total
from .objects import render
from .subscriptions import change_items, interval_of
from ..state import Ledger


def preview(ledger: Ledger, customer: dict, sub: dict, *, changes: list[dict] | None, proration_behavior: str,
            proration_date: int | None) -> dict:
    """The invoice an update would produce: the update is run, the invoice rendered, then all of it
    undone (only what the preview reached is copied; ``journal.savepoint``).

    ``always_invoice``: the immediate proration invoice. Otherwise: the next
    renewal invoice (pending items, the new prorations, next period's lines).
    """
    ledger.journal.savepoint()  # everything below is undone before the answer leaves (core/tables.py)
    mark = ledger.mark()
    ledger.scratch = True
    try:
        return _preview(ledger, ledger.subscriptions[sub["id"]], ledger.customers[customer["id"]],
                        changes=changes, proration_behavior=proration_behavior, proration_date=proration_date)
    finally:
        ledger.scratch = False
        ledger.undo_to(mark)


def _preview(scratch: Ledger, sub_c: dict, cust_c: dict, *, changes: list[dict] | None, proration_behavior: str,
             proration_date: int | None) -> dict:
    sub, customer = sub_c, cust_c
    at = proration_date if proration_date is not None else scratch.now(customer["id"])
    latest_before = sub_c["latest_invoice"]
    if changes:
        before = {ii["id"] for ii in pending_items(scratch, customer["id"], sub["id"])}
        change_items(scratch, sub_c, changes, proration_behavior="none" if proration_behavior == "none"
                     else "create_prorations", proration_date=proration_date, metadata=None)
        new_items = [ii for ii in pending_items(scratch, customer["id"], sub["id"]) if ii["id"] not in before]
    else:
        new_items = []
    if sub_c["latest_invoice"] != latest_before:
        # An interval change bills at once; that immediate invoice is the preview.
        invoice = scratch.invoices[sub_c["latest_invoice"]]
        invoice.update(status="draft", billing_reason="upcoming", number=None, amount_paid=0)
    elif proration_behavior == "always_invoice":
        invoice = new_invoice(scratch, cust_c, sub_c, "upcoming", at, (at, at))
        for ii in new_items:
            invoice["lines"].append(item_line(scratch, invoice, ii))
    else:
        first = scratch.items[sub_c["item_ids"][0]]
        start, end = first["current_period_start"], first["current_period_end"]
        interval, count = interval_of(scratch, sub_c)
        invoice = new_invoice(scratch, cust_c, sub_c, "upcoming", end, (start, end))
        sweep(scratch, invoice, cust_c, sub_c)  # undone with the rest
        for si in sub_c["item_ids"]:
            invoice["lines"].append(cycle_line(
                scratch, invoice, scratch.items[si], end,
                billing.period_containing(sub_c["billing_cycle_anchor"], interval, count, end)[1]))
    total(scratch, invoice)
    amount_due, ending = billing.apply_balance(invoice["total"], cust_c["balance"])
    invoice.update(id=f"upcoming_in_{sub['id']}", starting_balance=cust_c["balance"], ending_balance=ending,
                   amount_due=amount_due, amount_remaining=amount_due)
    if proration_date is not None:
        invoice["parent"]["subscription_details"]["subscription_proration_date"] = proration_date
    for line in invoice["lines"]:
        line["invoice"] = invoice["id"]
    return render(scratch, invoice)

