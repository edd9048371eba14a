"""The billing engine: what the provider should charge or credit, line by line, and when.

Pure: plain values in (a plan, a period, seat counts over time, plan and
addon changes), ``ExpectedLine`` values out. No I/O, no SQL, no provider
calls; the ledger's ``changes``/``seat_count`` feed it plain lists.

Provider semantics followed (docs/stripe.md#proration-amounts, #plan-changes, #invoicing-pending-prorations,
docs/chargebee.md#proration-arithmetic, #change-outcomes, #update-for-items):
- Stripe: any change to an item (price or quantity) writes a PAIR of proration
  lines, a credit for the old price × old quantity over the unused time and a
  debit for the new price × new quantity over the remaining time, each rounded
  on its own (the PRO preview example, docs/stripe.md#proration-amounts: −166 and +541). A plan change is one
  update: one pair per item (base fee, seats, addons).
- Chargebee: a quantity change on the same item price is ONE line for the
  difference (Δq × price × remaining share, docs/chargebee.md#proration-arithmetic worked
  example: Apr 11, 5→8 = 2000); a price or plan change is a credit for the old
  item and a charge for the new one (support example: $30→$15 on Apr 5, 26/30
  days left = −$26 and +$13).
- Each line amount is ``round(unit × quantity × share)`` with ``money.LINE_ROUNDING``
  (ROUND_HALF_UP; neither provider documents its tie-break: unverified).

When lines are billed (the plan's increase/decrease rules; a change is an
increase when its exact, unrounded net is positive):
- ``next_invoice`` / ``credit_next_invoice``: pending (Stripe pending invoice
  items; Chargebee unbilled charges and credit notes) until the renewal, where
  they are billed ``next_invoice`` together with the ``renewal`` lines.
- ``invoice_now``: billed ``now`` at the change, sweeping every pending line
  (Stripe's immediate invoice takes pending items; Chargebee applies credits
  first; unverified that Stripe's always_invoice sweeps older pending items).
- ``threshold``: pending, and billed ``threshold`` at the change that makes
  the pending net total strictly greater than the threshold (seed 002:
  "surpasses"); then gathering starts again.
- ``at_renewal``: no proration line at all; the renewal bills the seats in
  force at renewal.
An interval change (monthly↔annual) resets the term at the change on both
providers: unused time of the old items is credited, the new items are billed
in full for the new period, at once, sweeping pending lines.

Not modelled (say so when reconciling): Chargebee voids and reissues open
unbilled charges on a later change in the same term (same money, different
line shapes); Chargebee skips credits after an earlier ``prorate=false`` change
in the same term; Stripe's classic vs flexible credit math differs only when
the credited price was never billed (the engine credits the price in force
for the period, which is what was billed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from adapter.billing.money import round_minor
from adapter.billing.periods import Period, period_at, period_from, remaining_fraction
from adapter.billing.policy import Addon, Plan
from adapter.providers import registry
from adapter.providers.base import BillingStyle, Item

KINDS = ("seats", "base_fee", "addon", "proration_credit", "proration_debit")
BILLED = ("now", "next_invoice", "threshold", "renewal", "final")  # final: a cancelled subscription's last invoice


class BillingError(ValueError):
    """The inputs cannot describe a real subscription (unknown addon, mixed currencies, event out of order)."""


@dataclass(frozen=True)
class ExpectedLine:
    kind: str  # one of KINDS
    description: str
    item: str  # "base_fee", "seat" or "addon:<id>": the subscription item the line belongs to
    price_id: str
    currency: str
    period_start: dt.datetime  # Stripe period.start / Chargebee date_from
    period_end: dt.datetime  # exclusive; Chargebee's date_to is the last millisecond/second before it
    quantity: int
    unit_amount: int
    amount: int  # minor units, negative for credits
    proration: bool
    billed: str  # one of BILLED
    billed_at: dt.datetime
    changed_at: dt.datetime  # the change (or renewal) that produced the line

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("period_start", "period_end", "billed_at", "changed_at"):
            data[key] = data[key].isoformat()
        return data


@dataclass(frozen=True)
class State:
    """What the subscription holds: a plan, active users, addon ids."""

    plan: Plan
    seats: int
    addons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bill:
    lines: tuple[ExpectedLine, ...]
    period: Period  # the period the walk ended in (an interval change moves it)
    state: State  # in force at the end of the walk
    anchor: dt.datetime
    # Without ``renewal``: lines created but not billed yet (Stripe pending invoice items, Chargebee
    # unbilled charges and unapplied credits), as they stand: next_invoice at the period end.
    pending: tuple[ExpectedLine, ...] = ()

    def by_change(self, instant: dt.datetime) -> list[ExpectedLine]:
        return [line for line in self.lines if line.changed_at == instant]


@dataclass(frozen=True)
class ExpectedInvoice:
    """Lines billed at one instant, with the customer credit balance carried between invoices.

    Credits are never refunded (seed 001): a negative total becomes a balance
    that the next invoices use up (Stripe customer balance, Chargebee refundable credits).
    """

    billed_at: dt.datetime
    lines: tuple[ExpectedLine, ...]
    total: int
    balance_applied: int
    amount_due: int
    balance_after: int


def invoices(lines: Iterable[ExpectedLine], opening_balance: int = 0) -> list[ExpectedInvoice]:
    """Group lines into invoices by billing instant; ``opening_balance`` is credit already held (>= 0)."""
    groups: dict[dt.datetime, list[ExpectedLine]] = {}
    for line in lines:
        groups.setdefault(line.billed_at, []).append(line)
    balance = opening_balance
    result = []
    for instant in sorted(groups):
        total = sum(line.amount for line in groups[instant])
        applied = min(balance, max(total, 0))
        due = max(total, 0) - applied
        balance = balance - applied + max(-total, 0)
        result.append(ExpectedInvoice(instant, tuple(groups[instant]), total, applied, due, balance))
    return result


# --- pricing a state ----------------------------------------------------------------------


def _timezone(plan: Plan, timezone: str | None) -> str:
    return timezone or plan.timezone


def style(plan: Plan) -> BillingStyle:
    """How the plan's provider writes lines: the strategy this engine is handed (adapter/providers/)."""
    return registry.get(plan.provider).billing


def provider_period(plan: Plan, timezone: str, anchor: dt.datetime, at: dt.datetime) -> Period:
    """The billing period containing ``at`` of a subscription anchored at ``anchor``, stepped as the plan's
    provider steps it (Stripe in UTC; Chargebee's day-based terms from local midnight)."""
    billing = style(plan)
    return period_at(anchor, plan.interval, billing.cycle_timezone(timezone), at,
                     day_based=billing.day_based_terms(plan.proration))


def items(state: State, period: Period, addons: Mapping[str, Addon], timezone: str) -> dict[str, Item]:
    """The subscription items of ``state`` priced for ``period`` (the price in force on its first local day)."""
    plan = state.plan
    day = period.start.astimezone(ZoneInfo(timezone)).date()
    result: dict[str, Item] = {}
    if plan.base_fee is not None:
        point = plan.base_fee.at(day)
        result["base_fee"] = Item("base_fee", f"{plan.name} base fee", "base_fee", point.price_id,
                                  point.unit_amount, 1, "partial_term")
    seats = plan.billable_seats(state.seats)
    point = plan.seat.at(day)
    result["seat"] = Item("seat", f"{plan.name} seat", "seats", point.price_id, point.unit_amount, seats,
                          "partial_term")
    for addon_id in sorted(state.addons):
        addon = addons.get(addon_id)
        if addon is None:
            raise BillingError(f"unknown addon {addon_id!r}")
        if addon.currency != plan.currency:
            raise BillingError(f"addon {addon_id!r} is in {addon.currency}, plan {plan.id!r} in {plan.currency}")
        point = addon.price.at(day)
        quantity = 1 if addon.pricing == "flat_fee" else seats
        result[f"addon:{addon_id}"] = Item(f"addon:{addon_id}", addon.name, "addon", point.price_id,
                                           point.unit_amount, quantity, addon.proration)
    return result


# --- one change ----------------------------------------------------------------------------


@dataclass
class Draft:
    """A line before the billing rule says when it is billed; ``exact`` is the unrounded amount."""

    kind: str
    description: str
    item: str
    price_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    quantity: int
    unit_amount: int
    amount: int
    exact: Fraction
    proration: bool
    changed_at: dt.datetime

    def line(self, currency: str, billed: str, billed_at: dt.datetime) -> ExpectedLine:
        return ExpectedLine(self.kind, self.description, self.item, self.price_id, currency, self.period_start,
                            self.period_end, self.quantity, self.unit_amount, self.amount, self.proration, billed,
                            billed_at, self.changed_at)


def change_lines(billing: BillingStyle, old: Mapping[str, Item], new: Mapping[str, Item], *, period: Period,
                 at: dt.datetime, granularity: str, timezone: str,
                 changed_at: dt.datetime | None = None) -> list[Draft]:
    """The proration lines of one update from items ``old`` to ``new`` at ``at`` within ``period``."""
    effective, counting = billing.effective(granularity, at, period, timezone)
    share = remaining_fraction(period, effective, counting, timezone)
    changed_at = changed_at or at
    drafts: list[Draft] = []

    def add(credit: bool, item: Item, quantity: int, item_share: Fraction) -> None:
        exact = Fraction(item.unit_amount * quantity) * item_share * (-1 if credit else 1)
        drafts.append(Draft("proration_credit" if credit else "proration_debit",
                            billing.describe_proration(credit, item, quantity, effective, period.end, timezone),
                            item.key, item.price_id, effective, period.end, quantity, item.unit_amount,
                            round_minor(exact), exact, True, changed_at))

    for key in _ordered_keys(old, new):
        before, after = old.get(key), new.get(key)
        if before == after or (before is not None and after is not None and _same_price(before, after)
                               and before.quantity == after.quantity):
            continue
        changed = after or before
        if changed is None:  # both absent: equal, skipped above
            continue
        rule = changed.proration
        if rule == "none":
            continue
        item_share = Fraction(1) if rule == "full_term" else share
        if billing.nets_quantity_changes and before is not None and after is not None and _same_price(before, after):
            delta = after.quantity - before.quantity
            add(delta < 0, after, abs(delta), item_share)
            continue
        if before is not None and before.quantity:
            add(True, before, before.quantity, item_share)
        if after is not None and after.quantity:
            add(False, after, after.quantity, item_share)
    return drafts


def _same_price(a: Item, b: Item) -> bool:
    return a.price_id == b.price_id and a.unit_amount == b.unit_amount


def _ordered_keys(*maps: Mapping[str, Item]) -> list[str]:
    keys = {key for mapping in maps for key in mapping}
    order = {"base_fee": 0, "seat": 1}
    return sorted(keys, key=lambda k: (order.get(k, 2), k))


# --- the walk over a period ----------------------------------------------------------------


class _Change(TypedDict, total=False):
    """What changes at one instant of a period: any of the seat count, the plan, the addons."""

    seats: int
    plan: Plan
    addons: tuple[str, ...]


def _events(seat_changes: Sequence[tuple[dt.datetime, int]], plan_changes: Sequence[tuple[dt.datetime, Plan]],
            addon_changes: Sequence[tuple[dt.datetime, Sequence[str]]]) -> list[tuple[dt.datetime, _Change]]:
    merged: dict[dt.datetime, _Change] = {}
    for instant, seats in seat_changes:
        merged.setdefault(instant, {})["seats"] = seats
    for instant, plan in plan_changes:
        merged.setdefault(instant, {})["plan"] = plan
    for instant, addon_ids in addon_changes:
        merged.setdefault(instant, {})["addons"] = tuple(sorted(addon_ids))
    for instant in merged:
        if instant.tzinfo is None:
            raise BillingError(f"instant {instant} has no timezone")
    return sorted(merged.items())


@dataclass
class _Walk:
    period: Period
    anchor: dt.datetime
    state: State
    addons: Mapping[str, Addon]
    timezone: str
    granularity: str | None
    lines: list[ExpectedLine] = field(default_factory=list)
    pending: list[Draft] = field(default_factory=list)

    @property
    def plan(self) -> Plan:
        return self.state.plan

    def counting(self, plan: Plan) -> str:
        granularity = self.granularity or plan.proration
        if granularity not in registry.get(plan.provider).granularities:
            raise BillingError(f"{plan.provider} cannot prorate by {granularity!r}")
        return granularity

    def day_based(self, plan: Plan) -> bool:
        return style(plan).day_based_terms(self.counting(plan))

    def bill(self, drafts: Sequence[Draft], billed: str, at: dt.datetime) -> None:
        self.lines.extend(d.line(self.plan.currency, billed, at) for d in drafts)

    def renew(self) -> None:
        """Close the period: pending lines and the next period's charges, billed at its end."""
        end = self.period.end
        self.bill(self.pending, "next_invoice", end)
        self.pending = []
        plan = self.plan
        nxt = period_at(self.anchor, plan.interval, style(plan).cycle_timezone(self.timezone), end,
                        day_based=self.day_based(plan))
        self.bill(self.full_term(nxt, end), "renewal", end)
        self.period = nxt

    def full_term(self, period: Period, changed_at: dt.datetime) -> list[Draft]:
        """The state's items charged in full for ``period`` (a renewal, or a new term after a reset)."""
        plan = self.plan
        drafts = []
        for item in items(self.state, period, self.addons, self.timezone).values():
            if item.quantity:
                amount = item.unit_amount * item.quantity
                drafts.append(Draft(item.kind, style(plan).describe_full(item, plan.currency, plan.interval), item.key,
                                    item.price_id, period.start, period.end, item.quantity, item.unit_amount,
                                    amount, Fraction(amount), False, changed_at))
        return drafts

    def apply(self, at: dt.datetime, change: _Change) -> None:
        old = self.state
        new = State(change.get("plan", old.plan), change.get("seats", old.seats), change.get("addons", old.addons))
        if new.plan.currency != old.plan.currency:
            raise BillingError(f"plan change {old.plan.id!r} → {new.plan.id!r} changes currency")
        if new.plan.provider != old.plan.provider:
            raise BillingError(f"plan change {old.plan.id!r} → {new.plan.id!r} changes provider")
        self.state = new
        if new.plan.interval != old.plan.interval:
            self._reset_term(at, old, new)
            return
        counting = self.counting(new.plan)
        drafts = change_lines(style(new.plan), items(old, self.period, self.addons, self.timezone),
                              items(new, self.period, self.addons, self.timezone), period=self.period, at=at,
                              granularity=counting, timezone=self.timezone)
        if not drafts:
            return
        increase = sum(d.exact for d in drafts) > 0
        rule = new.plan.increase if increase else new.plan.decrease
        if rule == "at_renewal":
            return
        self.pending.extend(drafts)
        if rule == "invoice_now":
            self.bill(self.pending, "now", at)
            self.pending = []
        elif rule == "threshold" and new.plan.increase_threshold is not None \
                and sum(d.amount for d in self.pending) > new.plan.increase_threshold:
            self.bill(self.pending, "threshold", at)
            self.pending = []

    def _reset_term(self, at: dt.datetime, old: State, new: State) -> None:
        """Monthly↔annual: credit the old items' unused time, bill the new term in full, now."""
        counting = self.counting(old.plan)
        if new.plan.increase != "at_renewal":  # Stripe: with proration none only the credit is skipped
            self.pending.extend(change_lines(style(old.plan), items(old, self.period, self.addons, self.timezone),
                                             {}, period=self.period, at=at, granularity=counting,
                                             timezone=self.timezone))
        billing = style(new.plan)
        start, _ = billing.effective(self.counting(new.plan), at, self.period, self.timezone)
        start = billing.term_start(start)
        self.period = period_from(start, new.plan.interval, billing.cycle_timezone(self.timezone),
                                  day_based=self.day_based(new.plan))
        self.anchor = self.period.start
        self.pending.extend(self.full_term(self.period, at))
        self.bill(self.pending, "now", at)
        self.pending = []


def bill_period(*, plan: Plan, period: Period, seats: int, addons_in_force: Sequence[str] = (),
                seat_changes: Sequence[tuple[dt.datetime, int]] = (),
                plan_changes: Sequence[tuple[dt.datetime, Plan]] = (),
                addon_changes: Sequence[tuple[dt.datetime, Sequence[str]]] = (),
                addons: Mapping[str, Addon] | None = None, timezone: str | None = None,
                granularity: str | None = None, anchor: dt.datetime | None = None,
                renewal: bool = True) -> Bill:
    """Every line the provider should write from ``period.start`` on.

    ``seats``/``addons_in_force``/``plan`` are the state at ``period.start``;
    ``seat_changes`` are (instant, active users from then on) points,
    ``plan_changes`` (instant, Plan), ``addon_changes`` (instant, addon ids).
    Changes at one instant are one provider update. A change at or after a
    period's end first renews that period; with ``renewal`` the last period
    is closed too. ``timezone`` overrides the plan's (per account);
    ``granularity`` overrides its proration (a Chargebee site's billing mode).
    ``anchor`` is the billing cycle anchor (default ``period.start``).
    """
    tz = _timezone(plan, timezone)
    walk = _Walk(period, anchor or period.start, State(plan, seats, tuple(sorted(addons_in_force))),
                 addons or {}, tz, granularity)
    for instant, change in _events(seat_changes, plan_changes, addon_changes):
        if instant < walk.period.start:
            raise BillingError(f"change at {instant.isoformat()} is before the period start "
                               f"{walk.period.start.isoformat()}")
        while instant >= walk.period.end:
            walk.renew()
        walk.apply(instant, change)
    if renewal:
        walk.renew()
    pending = tuple(d.line(walk.plan.currency, "next_invoice", walk.period.end) for d in walk.pending)
    return Bill(tuple(walk.lines), walk.period, walk.state, walk.anchor, pending)
