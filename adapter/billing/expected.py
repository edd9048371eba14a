"""What the provider should have billed an account, from the ledger and the policy, through the engine.

Fetch apart from compute: this module reads the account's link and ledger and
hands plain values to ``adapter.billing.bill_period`` once, from the link
instant (the cycle anchor, as in ``adapter.preview``) to ``until``. A no-op
seat point at ``until`` makes the engine's walk renew every period that ends
by then, so every renewal, proration and threshold invoice up to ``until`` is
in ``Bill.lines`` and what is still gathering is in ``Bill.pending``.

The link instant is seatsync's first look at the subscription: what the
provider billed before it, and the invoice opened at it, are taken as given
(the sync worker does the same with its baseline), so reconciliation starts
after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import sqlite_utils

from adapter import ledger
from adapter.accounts import Account
from adapter.billing.engine import Bill, BillingError, bill_period, provider_period
from adapter.billing.periods import Period
from adapter.billing.policy import Catalog, Plan
from adapter.billing.preview import seat_points
from adapter.clock import from_us, to_us


class ExpectationError(Exception):
    """The account's expected bill cannot be computed; the message says why."""


@dataclass(frozen=True)
class Expectation:
    account: Account
    plan: Plan  # in force at ``until``
    timezone: str
    bill: Bill


def expected_bill(db: sqlite_utils.Database, catalog: Catalog, account: Account, until_us: int, *,
                  ends_us: int | None = None, since_us: int | None = None) -> Expectation:
    """The engine's lines for ``account`` from its link up to ``until_us`` (exclusive).

    ``since_us``: only lines billed (or, for credits issued at the change, changed) at or after it are
    needed. The walk then starts at the billing period containing the instant before it, from the ledger's
    state at that period's start (``_checkpoint``), instead of at the link: a month costs a month, not the
    account's whole history. Every line at or after ``since_us`` comes out the same as from the link.

    ``ends_us``: the subscription was cancelled then. Nothing is expected after it: no renewal at or
    after the end, no seat change after it; what was still pending at the end (prorations gathering
    for the next invoice) is expected on the final invoice at the end, which both providers write
    when a cancellation invoices the open charges (Stripe: at ``cancel_at``, or ``invoice_now``;
    Chargebee: ``unbilled_charges_option=invoice``, its default). A cancellation that credits the
    unused time is not predicted: its credit is flagged, with its money at stake."""
    if ends_us is not None and ends_us < until_us:
        # Through the end's own microsecond: a change at that instant was made before the cancellation.
        expectation = expected_bill(db, catalog, account, ends_us + 1, since_us=since_us)
        return replace(expectation, bill=final_bill(expectation.bill, from_us(ends_us)))
    anchor_us = account.linked_us
    start_plan = catalog.plans.get(ledger.plan_at(db, account.account, anchor_us) or account.plan)
    current = catalog.plans.get(ledger.plan_at(db, account.account, until_us - 1) or account.plan)
    if start_plan is None or current is None:
        raise ExpectationError(f"account {account.account!r} is on a plan that is not in the catalogue")
    timezone = account.timezone or start_plan.timezone
    anchor = from_us(anchor_us)
    period = provider_period(start_plan, timezone, anchor, anchor)
    # The link instant: what stood at it is what the provider's first invoice billed (taken as given).
    baseline_us = anchor_us
    checkpoint = _checkpoint(db, catalog, account, start_plan, timezone, since_us) if since_us else None
    if checkpoint is not None:
        period, baseline_us, start_plan = checkpoint
    seats = ledger.seat_count(db, account.account, baseline_us)
    points = seat_points(db, account.account, baseline_us + 1, until_us, seats)
    # The no-op point at ``until`` renews every period ending by then and bills nothing itself.
    points.append((from_us(until_us), points[-1][1] if points else seats))
    plan_changes = [(from_us(c.instant_us), catalog.plans[c.plan])
                    for c in ledger.plan_changes(db, account.account, baseline_us + 1, until_us)
                    if c.plan in catalog.plans]
    addon_changes = [(from_us(c.instant_us), c.addons)
                     for c in ledger.addon_changes(db, account.account, baseline_us + 1, until_us)]
    try:
        bill = bill_period(plan=start_plan, period=period, seats=seats,
                           addons_in_force=ledger.addons_at(db, account.account, baseline_us),
                           seat_changes=points, plan_changes=plan_changes, addon_changes=addon_changes,
                           addons=catalog.addons, timezone=timezone, anchor=anchor, renewal=False)
    except BillingError as exc:
        raise ExpectationError(f"account {account.account!r}: {exc}") from None
    return Expectation(account, current, timezone, bill)


def _checkpoint(db: sqlite_utils.Database, catalog: Catalog, account: Account, link_plan: Plan, timezone: str,
                since_us: int) -> tuple[Period, int, Plan] | None:
    """Where a walk that only needs lines from ``since_us`` on may start: the billing period containing the
    instant before ``since_us``, the instant whose ledger state opens it, and the plan in force then.

    Sound because nothing crosses a period boundary in the engine's walk except the state (plan, seats,
    addons, all read from the ledger) and the anchor: every renewal bills what was pending, so a period
    starts with nothing pending, and the lines billed at its start belong to the period before, which ends
    before ``since_us``. ``None`` (walk from the link) when the period is the first, or when a plan of
    another interval or proration was in force in between: a term reset moves the anchor and a change of
    proration steps the periods differently, so only the walk from the link knows where they fall."""
    before_us = since_us - 1
    if before_us <= account.linked_us:
        return None
    for change in ledger.plan_changes(db, account.account, account.linked_us + 1, since_us):
        plan = catalog.plans.get(change.plan)
        if plan is None or (plan.interval, plan.proration) != (link_plan.interval, link_plan.proration):
            return None
    plan = catalog.plans.get(ledger.plan_at(db, account.account, before_us) or account.plan, link_plan)
    period = provider_period(plan, timezone, from_us(account.linked_us), from_us(before_us))
    start_us = to_us(period.start)
    if start_us <= account.linked_us:
        return None
    # The state just before the renewal instant: a change at exactly the period's start is a change in it.
    baseline_us = start_us - 1
    start_plan = catalog.plans.get(ledger.plan_at(db, account.account, baseline_us) or account.plan, link_plan)
    return period, baseline_us, start_plan


def final_bill(bill: Bill, end: dt.datetime) -> Bill:
    """``bill`` for a subscription that ended at ``end``: the renewal at the end bills only what was
    pending (no next period), and lines still pending are billed on the final invoice then."""
    lines = [line for line in bill.lines if not (line.billed_at >= end and line.period_start >= end)]
    lines += [replace(line, billed="final", billed_at=end) for line in bill.pending]
    return replace(bill, lines=tuple(lines), pending=())
