"""Test clocks and the default clock: advancing them runs renewals and invoice auto-finalization
in time order (reference stripe.md §8 TC, §2 INV-WF)."""

from __future__ import annotations

from .. import billing
from ..errors import StripeError
from . import lifecycle, schedules
from .invoices import attempt_payment, cycle_line, finalize_invoice, new_invoice, sweep, total
from .objects import emit, render
from .subscriptions import interval_of
from ..state import Ledger


def create_clock(ledger: Ledger, frozen_time: int, name: str | None) -> dict:
    clock = {"id": ledger.new_id("clock"), "object": "test_helpers.test_clock", "created": frozen_time,
             "deletes_after": frozen_time + 7 * billing.DAY, "frozen_time": frozen_time,
             "livemode": False, "name": name, "status": "ready", "status_details": {}}
    ledger.clocks[clock["id"]] = clock
    emit(ledger, "test_helpers.test_clock.created", clock, at=clock["frozen_time"])
    return clock


def advance_clock(ledger: Ledger, clock: dict, to: int) -> dict:
    if to <= clock["frozen_time"]:
        raise StripeError.state("The frozen_time must be after the current frozen time of the test clock.",
                                param="frozen_time")
    subs = ledger.live_subscriptions.objects(("clock", clock["id"]))
    if subs:
        limit = min(billing.add_interval(clock["frozen_time"], *interval_of(ledger, s), 2) for s in subs)
        reason = "two intervals in the future from the shortest subscription in this test clock"
    else:
        limit = billing.add_interval(clock["frozen_time"], "year", 1, 2)
        reason = "two years in the future"
    if to > limit:
        raise StripeError.state(f"Cannot advance the test clock more than {reason}.", param="frozen_time")
    emit(ledger, "test_helpers.test_clock.advancing", clock | {"status": "advancing"}, at=clock["frozen_time"],
         automatic=True)
    run_clock(ledger, clock, to)
    clock["frozen_time"] = to
    emit(ledger, "test_helpers.test_clock.ready", clock, at=to, automatic=True)
    return clock


def advance_default_clock(ledger: Ledger, to: int) -> int:
    """Move the clock of customers without a test clock (control API only)."""
    if to <= ledger.default_time:
        raise StripeError.state("The frozen_time must be after the current default time.", param="frozen_time")
    pseudo = {"id": None, "frozen_time": ledger.default_time}
    run_clock(ledger, pseudo, to)
    ledger.default_time = to
    return to


def run_clock(ledger: Ledger, clock: dict, to: int) -> None:
    """Process renewals and invoice auto-finalization in time order up to ``to``."""
    bucket = ("clock", clock["id"])
    while True:
        due: list[tuple[int, int, str, dict]] = []
        for sub in ledger.live_subscriptions.objects(bucket):
            end = ledger.items[sub["item_ids"][0]]["current_period_end"]
            resumes_at = (sub["pause_collection"] or {}).get("resumes_at")
            if resumes_at is not None and resumes_at <= to:
                due.append((resumes_at, -2, "resume_collection", sub))
            if sub["cancel_at"] is not None and sub["cancel_at"] <= min(end, to):
                due.append((sub["cancel_at"], -1, "cancel", sub))  # at the period end: instead of renewing
            elif end <= to:
                due.append((end, 0, "renew", sub))
        for invoice in ledger.auto_drafts.objects(bucket):
            if invoice["automatically_finalizes_at"] <= to:
                due.append((invoice["automatically_finalizes_at"], 1, "finalize", invoice))
        if not due:
            return
        at, _, action, obj = min(due, key=lambda d: (d[0], d[1], d[3]["id"]))
        clock["frozen_time"] = at
        if action == "renew":
            renew(ledger, obj, at)
        elif action == "cancel":
            lifecycle.cancel_at_boundary(ledger, obj, at)
        elif action == "resume_collection":
            lifecycle.resume_collection(ledger, obj, at)
        else:
            finalize_invoice(ledger, obj, automatic=True)
            if obj["status"] == "open":
                attempt_payment(ledger, obj, automatic=True)


def renew(ledger: Ledger, sub: dict, at: int) -> None:
    """At a period end: bill the quantity in force for the next period, sweep
    pending items, leave a draft that auto-finalizes an hour later (reference §5, §8)."""
    customer = ledger.customers[sub["customer"]]
    if sub["schedule"] and not schedules.at_period_end(ledger, sub, at):
        return  # the schedule ended and canceled the subscription
    first = ledger.items[sub["item_ids"][0]]
    old_start = first["current_period_start"]
    interval, count = interval_of(ledger, sub)
    # Periods step from the anchor, not from the previous (clamped) end: a Jan 31 anchor
    # bills Feb 28/29, Mar 31, Apr 30 (reference stripe.md "billing_cycle_anchor").
    new_end = billing.period_containing(sub["billing_cycle_anchor"], interval, count, at)[1]
    previous_items = render(ledger, sub)["items"]
    invoice = new_invoice(ledger, customer, sub, "subscription_cycle", at, (old_start, at))
    invoice["auto_advance"] = True
    invoice["automatically_finalizes_at"] = at + 3600
    # Swept pending items come first, then next period's lines, as on Stripe's invoices.
    sweep(ledger, invoice, customer, sub)
    for si in sub["item_ids"]:
        item = ledger.items[si]
        item["current_period_start"], item["current_period_end"] = at, new_end
        invoice["lines"].append(cycle_line(ledger, invoice, item, at, new_end))
    total(ledger, invoice)
    sub["latest_invoice"] = invoice["id"]
    emit(ledger, "customer.subscription.updated", sub, {"items": previous_items}, automatic=True)
    emit(ledger, "invoice.created", invoice, automatic=True)
    if sub["pause_collection"]:
        lifecycle.paused_renewal(ledger, sub, invoice)

