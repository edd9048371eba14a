"""Invoicing unbilled charges on demand, renewals, and the time machine's travel (reference chargebee.md §3)."""

from __future__ import annotations

from ..errors import wrong_value
from .events import record
from .invoices import issue_invoice
from .lines import full_term_segments, line, open_unbilled, swept_line
from .render import render_customer, render_subscription
from ..state import ChargebeeState
from ..terms import add_period


def invoice_unbilled(state: ChargebeeState, sub: dict) -> dict | None:
    """Sweep the subscription's open unbilled charges into one invoice."""
    pending = open_unbilled(state, sub["id"])
    if not pending:
        return None
    lines = [swept_line(state, uc) for uc in pending]
    invoice = issue_invoice(state, sub, lines, recurring=False)
    _mark_invoiced(state, pending, invoice)
    return invoice


def _mark_invoiced(state: ChargebeeState, charges: list[dict], invoice: dict) -> None:
    for uc in charges:
        uc["deleted"] = True  # invoiced charges leave the unbilled list (include_deleted shows them)
        state.touch_unversioned(uc)
    record(state, "unbilled_charges_invoiced", {"unbilled_charges": charges, "invoice": invoice})


def renew(state: ChargebeeState, sub: dict) -> dict | None:
    """Start the next term at the current term's end and bill it."""
    state.now_ms = max(state.now_ms, sub["_term_end_ms"])
    if sub.get("has_scheduled_changes"):
        # A scheduled change (end_of_term) takes effect at the term end: this renewal bills it.
        sub["_items"] = sub["_scheduled_items"]
        sub["_last_item_change_ms"] = sub["_term_end_ms"]
        sub.pop("_scheduled_items")
        sub.pop("changes_scheduled_at", None)
        sub["has_scheduled_changes"] = False
    sub["_terms"] += 1
    sub["_term_start_ms"] = sub["_term_end_ms"]
    sub["_term_end_ms"] = add_period(sub["_anchor_ms"], sub["_period"], sub["_period_unit"], sub["_terms"] + 1,
                                     state.settings.timezone)
    sub["_unprorated_change_in_term"] = False
    sub["_term_invoice_id"] = None
    for entry in sub["_items"]:
        entry.pop("proration_type", None)  # removed at the next renewal (SPEC)
    pending = open_unbilled(state, sub["id"])
    lines = [line(state, sub, seg) for seg in full_term_segments(state, sub)]
    lines = [line for line in lines if line["amount"] > 0] + [swept_line(state, uc) for uc in pending]
    state.touch(sub)
    invoice = None
    if lines:
        invoice = issue_invoice(state, sub, lines, recurring=True)
        sub["_term_invoice_id"] = invoice["id"]
        if pending:
            _mark_invoiced(state, pending, invoice)
    content = {"subscription": render_subscription(state, sub),
               "customer": render_customer(state, state.customers[sub["customer_id"]])}
    if invoice is not None:
        content["invoice"] = invoice
    record(state, "subscription_renewed", content, source="scheduled_job")
    return invoice


def travel_forward(state: ChargebeeState, destination_ms: int) -> list[dict]:
    """Move the site clock, renewing every subscription whose term ends on the way, in time order."""
    if destination_ms <= state.now_ms:
        raise wrong_value("destination_time", "destination_time : must be later than the time machine's current time")
    from .lifecycle import on_due  # (lifecycle builds on renew)

    invoices = []
    while True:
        # The queue: what is due next (renewal, scheduled pause/cancel/resume) by (instant, created_at, id).
        first = state.renewals.first()
        if first is None or first[0][0] > destination_ms:
            break
        invoice = on_due(state, state.subscriptions[first[1]], first[0][0])
        if invoice is not None:
            invoices.append(invoice)
    state.now_ms = destination_ms
    state.time_machine["destination_time"] = destination_ms // 1000
    state.time_machine["time_travel_status"] = "succeeded"
    return invoices
