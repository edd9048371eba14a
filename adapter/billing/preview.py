"""``seatsync preview``: what one hypothetical change would cost an account, line by line, and when.

Reads the account's link and ledger (fetch), then hands plain values to the
pure engine (``adapter.billing``). The billing period comes from the cycle
anchor: by default the instant the account was linked ("charged ... on the
same date as you signed up", seed 000), or an explicit ``anchor``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from adapter import accounts, ledger
from adapter.billing.engine import (
    Bill,
    BillingError,
    ExpectedInvoice,
    ExpectedLine,
    bill_period,
    invoices,
    provider_period,
)
from adapter.billing.money import format_amount
from adapter.billing.periods import Period
from adapter.billing.policy import Catalog, Plan
from adapter.billing.price_changes import ScheduledPriceChange, scheduled_price_changes
from adapter.clock import from_us, to_us


class PreviewError(Exception):
    """The account or change cannot be previewed; the message says why."""


@dataclass(frozen=True)
class Preview:
    account: str
    plan: str
    new_plan: str | None
    provider: str
    currency: str
    timezone: str
    period: Period
    at: dt.datetime
    seats_before: int
    seats_after: int
    lines: tuple[ExpectedLine, ...]  # the change's own lines
    invoice: ExpectedInvoice | None  # the invoice they land on (with whatever else it sweeps)
    bill: Bill
    price_changes: tuple[ScheduledPriceChange, ...] = ()  # announced changes still ahead (price_changes.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account, "plan": self.plan, "new_plan": self.new_plan, "provider": self.provider,
            "currency": self.currency, "timezone": self.timezone,
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "at": self.at.isoformat(), "seats_before": self.seats_before, "seats_after": self.seats_after,
            "lines": [line.as_dict() for line in self.lines],
            "net": sum(line.amount for line in self.lines),
            "invoice": None if self.invoice is None else {
                "billed_at": self.invoice.billed_at.isoformat(), "total": self.invoice.total,
                "balance_applied": self.invoice.balance_applied, "amount_due": self.invoice.amount_due,
                "balance_after": self.invoice.balance_after, "lines": len(self.invoice.lines)},
            "price_changes": [change.as_dict() for change in self.price_changes],
        }


def seat_points(db: sqlite_utils.Database, account: str, start_us: int, end_us: int,
                initial: int) -> list[tuple[dt.datetime, int]]:
    """The ledger's per-user changes in [start_us, end_us) as the engine's (instant, active users) points."""
    points: list[tuple[dt.datetime, int]] = []
    count = initial
    for change in ledger.changes(db, account, start_us, end_us):
        count += 1 if change.active else -1
        if points and points[-1][0] == from_us(change.instant_us):
            points[-1] = (points[-1][0], count)
        else:
            points.append((from_us(change.instant_us), count))
    return points


@dataclass(frozen=True)
class AccountPeriod:
    """An account's billing period around an instant, with the ledger's history in it as engine inputs."""

    account: str
    plan: Plan  # in force at the instant
    timezone: str
    anchor: dt.datetime
    period: Period
    start_plan: Plan
    seats_at_start: int
    addons_at_start: tuple[str, ...]
    seat_changes: tuple[tuple[dt.datetime, int], ...]
    plan_changes: tuple[tuple[dt.datetime, Plan], ...]
    addon_changes: tuple[tuple[dt.datetime, tuple[str, ...]], ...]

    def bill(self, catalog: Catalog, *, seat_changes: Sequence[tuple[dt.datetime, int]] = (),
             plan_changes: Sequence[tuple[dt.datetime, Plan]] = (), renewal: bool = True) -> Bill:
        """The engine's lines for this period, with extra (hypothetical) changes after the ledger's."""
        try:
            return bill_period(plan=self.start_plan, period=self.period, seats=self.seats_at_start,
                               addons_in_force=self.addons_at_start,
                               seat_changes=[*self.seat_changes, *seat_changes],
                               plan_changes=[*self.plan_changes, *plan_changes], addon_changes=self.addon_changes,
                               addons=catalog.addons, timezone=self.timezone, anchor=self.anchor, renewal=renewal)
        except BillingError as exc:
            raise PreviewError(str(exc)) from None


def account_period(db: sqlite_utils.Database, catalog: Catalog, account: str, *, at_us: int,
                   anchor_us: int | None = None) -> AccountPeriod:
    """The period containing ``at_us`` and every ledger change from its start up to ``at_us`` included.

    The cycle anchor defaults to the instant the account was linked.
    """
    link = accounts.get_account(db, account)
    if link is None:
        raise PreviewError(f"unknown account {account!r}: link it first (seatsync accounts link)")
    current_id = ledger.plan_at(db, account, at_us) or link.plan
    current = catalog.plans.get(current_id)
    if current is None:
        raise PreviewError(f"account {account!r} is on plan {current_id!r}, which is not in the catalogue")
    timezone = link.timezone or current.timezone
    at = from_us(at_us)
    anchor = from_us(anchor_us if anchor_us is not None else link.linked_us)
    if at < anchor:
        raise PreviewError(f"--at {at.isoformat()} is before the billing anchor {anchor.isoformat()}")
    period = provider_period(current, timezone, anchor, at)
    start_us = to_us(period.start)
    # In the first period, what stood at the link instant itself (the product's snapshot sent with the
    # link) is what the provider's first invoice billed: taken as given, as the sync worker's baseline
    # and reconciliation take it (a day-based period starts at local midnight, before the link). A later
    # period starts just before its renewal instant, so a change at exactly that instant is a change.
    linked_at_us = to_us(anchor)
    baseline_us = linked_at_us if start_us <= linked_at_us < to_us(period.end) else start_us - 1
    seats_at_start = ledger.seat_count(db, account, baseline_us)
    start_plan = catalog.plans.get(ledger.plan_at(db, account, baseline_us) or "", current)
    if start_plan.interval != current.interval or start_plan.currency != current.currency:
        start_plan = current  # a term reset happened in this period; bill it as the current plan
    plan_changes = tuple((from_us(c.instant_us), catalog.plans[c.plan])
                         for c in ledger.plan_changes(db, account, baseline_us + 1, at_us + 1)
                         if c.plan in catalog.plans and catalog.plans[c.plan].interval == current.interval)
    addon_changes = tuple((from_us(c.instant_us), c.addons)
                          for c in ledger.addon_changes(db, account, baseline_us + 1, at_us + 1))
    return AccountPeriod(account, current, timezone, anchor, period, start_plan, seats_at_start,
                         ledger.addons_at(db, account, baseline_us),
                         tuple(seat_points(db, account, baseline_us + 1, at_us + 1, seats_at_start)), plan_changes,
                         addon_changes)


def preview(db: sqlite_utils.Database, catalog: Catalog, account: str, *, at_us: int, add: int = 0,
            remove: int = 0, plan: str | None = None, anchor_us: int | None = None) -> Preview:
    """The lines a change at ``at_us`` (``add``/``remove`` seats, or switch to ``plan``) makes."""
    context = account_period(db, catalog, account, at_us=at_us, anchor_us=anchor_us)
    current = context.plan
    new_plan = None
    if plan is not None:
        new_plan = catalog.plans.get(plan)
        if new_plan is None:
            raise PreviewError(f"unknown plan {plan!r}; not in the catalogue")
        if new_plan.id == current.id:
            raise PreviewError(f"account {account!r} is already on plan {plan!r}")
    at = from_us(at_us)
    seats_before = ledger.seat_count(db, account, at_us)
    seats_after = seats_before + add - remove
    if seats_after < 0:
        raise PreviewError(f"cannot remove {remove} seats: the account has {seats_before} at {at.isoformat()}")
    bill = context.bill(catalog, seat_changes=[(at, seats_after)] if add or remove else [],
                        plan_changes=[(at, new_plan)] if new_plan is not None else [])
    lines = tuple(bill.by_change(at))
    invoice = None
    if lines:
        invoice = next(inv for inv in invoices(bill.lines) if inv.billed_at == lines[0].billed_at)
    after = new_plan or current
    changes = tuple(scheduled_price_changes(after, anchor=context.anchor, timezone=context.timezone, at=at,
                                            seats=after.billable_seats(seats_after)))
    return Preview(account, current.id, new_plan.id if new_plan else None, current.provider, current.currency,
                   context.timezone, context.period, at, seats_before, seats_after, lines, invoice, bill, changes)


def render_price_changes(result: Preview) -> list[str]:
    out = []
    for change in result.price_changes:
        out.append(f"price change scheduled: {change.item} {format_amount(change.old.unit_amount, change.currency)}"
                   f" → {format_amount(change.new.unit_amount, change.currency)} [{change.new.price_id}] from "
                   f"{change.effective_from}; first invoice {change.first_invoice_at.isoformat()} bills "
                   f"{format_amount(change.renewal_amount, change.currency)} for {change.seats} seats"
                   + (f" (customers told by {change.notice_from()})" if change.notice_days else ""))
    return out


def _when(moment: dt.datetime, zone: ZoneInfo) -> str:
    """A line's instant for people: to the second (the providers bill no finer on a line), in ``zone``."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def render_table(result: Preview, *, utc: bool = False) -> list[str]:
    """Lines of text for people: times in the account's zone (``utc``: in UTC), to the second.

    The invoice footer counts every line of the invoice the change lands on, so the lines already pending
    and the renewal's are listed under it: a count or total never covers lines that are not shown.
    """
    currency = result.currency
    zone_name = "UTC" if utc else result.timezone
    zone = ZoneInfo(zone_name)
    unchanged = result.new_plan is None and result.seats_after == result.seats_before
    change = (f"plan {result.plan} → {result.new_plan}" if result.new_plan
              else "none (seats " + str(result.seats_before) + ")" if unchanged
              else f"seats {result.seats_before} → {result.seats_after}")
    out = [
        f"account {result.account}: plan {result.plan} ({result.provider}, {currency}, {result.timezone})",
        f"times   {zone_name}" + ("" if utc else " (the account's time zone)"),
        f"period  {_when(result.period.start, zone)} → {_when(result.period.end, zone)}",
        f"change  {change} at {_when(result.at, zone)}",
    ]
    if not result.lines and unchanged:
        return out + render_price_changes(result)
    if not result.lines:
        out.append("no proration lines: the policy bills this change at the renewal "
                   "(or it does not change what is billed)")
        return out + render_price_changes(result)

    def row(line: ExpectedLine) -> list[str]:
        return [f"{line.kind:<17} {line.quantity:>5} {format_amount(line.unit_amount, currency):>14} "
                f"{format_amount(line.amount, currency):>16}  {_when(line.period_start, zone):<19}  "
                f"{_when(line.period_end, zone):<19}  {line.billed} at {_when(line.billed_at, zone)}",
                f"  {line.description} [{line.price_id}]"]

    header = f"{'KIND':<17} {'QTY':>5} {'UNIT':>14} {'AMOUNT':>16}  {'FROM':<19}  {'TO':<19}  BILLED"
    out.append(header)
    for line in result.lines:
        out += row(line)
    count = len(result.lines)
    out.append(f"net     {format_amount(sum(line.amount for line in result.lines), currency)} "
               f"({count} line{'s' if count != 1 else ''} of this change)")
    invoice = result.invoice
    if invoice is not None:
        others = [line for line in invoice.lines if line not in result.lines]
        if others:
            out.append(f"also on that invoice ({len(others)} line{'s' if len(others) != 1 else ''}: "
                       "changes already made, the renewal):")
            for line in others:
                out += row(line)
        out.append(f"invoice at {_when(invoice.billed_at, zone)}: {len(invoice.lines)} lines "
                   f"({count} of this change" + (f", {len(others)} above" if others else "") + "), total "
                   f"{format_amount(invoice.total, currency)}, due {format_amount(invoice.amount_due, currency)}"
                   + (f", credit carried {format_amount(invoice.balance_after, currency)}"
                      if invoice.balance_after else ""))
    return out + render_price_changes(result)
