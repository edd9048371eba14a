"""Sync one account's subscription with its ledger: plan, persist, then send.

The order of steps is what makes it exactly-once (ARCHITECTURE.md, "Seat sync"):

1. Calls planned earlier and never confirmed (a crash, a provider outage) are
   sent first, unchanged: same parameters, same idempotency key, so the
   provider replays instead of applying twice.
2. Only then is the provider read, drift checked, and the difference between
   the ledger and what was pushed turned into new calls.
3. New calls are committed as ``planned`` before the first is sent; each
   outcome is committed as it arrives.

Provider I/O goes through a ``Provider`` (``adapter/providers``): ``read``
returns a ``SubscriptionState`` and ``send`` performs one ``CallSpec``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict

import sqlite_utils

from adapter import clock, ledger, metrics, store
from adapter.accounts import Account, get_account
from adapter.billing.periods import local_midnight
from adapter.billing.policy import Catalog, Plan
from adapter.clock import from_us, to_us
from adapter.providers import registry
from adapter.providers.base import Grid
from adapter.providers.retry import call_with_retries, classify
from adapter.providers.translate import (
    CallSpec,
    SubscriptionState,
    TranslateError,
    addons_call,
    plan_change_call,
    quantity_call,
    subscription_after_plan_change,
    threshold_call,
)
from adapter.sync.budget import HOUR_US, budget_wait, soon_after
from adapter.sync.lifecycle import held
from adapter.sync.observed import observed_send
from adapter.sync.owner import drop_calls_for_other_subscriptions, owned
from adapter.sync.plan import SeatPlan, plan_quantities
from adapter.sync.price_switch import price_switch_call
from adapter.sync.pushed import pushed_position
from adapter.sync.timeline import Timeline

log = logging.getLogger(__name__)

YEAR_US = 366 * 24 * HOUR_US


class Provider(Protocol):
    name: str

    def read(self, subscription: str, catalog: Catalog) -> SubscriptionState: ...

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict[str, Any]]: ...


class Drift(TypedDict):
    """A subscription's quantity changed behind seatsync's back (handed to ``on_drift``)."""

    account: str
    subscription: str
    expected: int
    actual: int
    at_us: int


class LateChange(TypedDict):
    """A change billed from another instant than its own (``store.record_late_change``'s arguments)."""

    kind: str  # across_period | applied_now | shifted
    instant_us: int
    delta: int
    moved: NotRequired[int]
    unit: NotRequired[str]
    period_units: NotRequired[int]
    amount: NotRequired[int]
    period_start_us: NotRequired[int]


@dataclass
class Outcome:
    """What one sync pass did, for logs and tests."""

    account: str
    sent: int = 0
    dead: int = 0
    deferred: bool = False
    drift: bool = False
    synced_version: int | None = None
    # Changes the provider cannot take yet (ahead of its clock, or in its next period):
    # the account stays due and is looked at again soon.
    waiting: bool = False
    retry_at_us: int | None = None  # deferred until then (the hourly budget has room again)
    held: bool = False  # the subscription is cancelled or paused: nothing was read or written


@dataclass
class SyncOptions:
    retry_attempts: int = 5
    retry_initial: float = 0.5
    retry_maximum: float = 8.0
    sleep: Callable[[float], None] | None = None


def sync_account(db: sqlite_utils.Database, catalog: Catalog, providers: dict[str, Provider], *, account: str,
                 claimed_version: int, owner: str, now_us: Callable[[], int] = clock.now_us,
                 options: SyncOptions | None = None, on_drift: Callable[[Drift], None] | None = None) -> Outcome:
    """One pass for one leased account. Never raises for provider failures: they end in dead letters
    or a retry later."""
    options = options or SyncOptions()
    outcome = Outcome(account)
    linked = get_account(db, account)
    if linked is None:
        outcome.synced_version = claimed_version  # nothing to bill until the account is linked
        return outcome
    provider = providers.get(linked.provider)
    if provider is None:
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.configure",
                               code="provider_not_configured", status=None,
                               reason=f"no API key is configured for {linked.provider}", request_id=None,
                               now_us=now_us())
        outcome.dead += 1
        outcome.synced_version = claimed_version
        return outcome

    # 0. A cancelled or paused subscription takes no writes (sync/lifecycle.py): say why, send nothing.
    if held(db, linked, now_us()):
        outcome.held = True
        outcome.synced_version = claimed_version
        return outcome

    # 1. Finish what an earlier pass planned (for this link's subscription only: a call planned for a
    # subscription the account no longer holds is never sent).
    outcome.dead += drop_calls_for_other_subscriptions(db, linked, now_us())
    if not _send_planned(db, provider, account, owner, now_us, options, outcome):
        return outcome
    if outcome.dead:
        # The provider refused the batch for good: the claimed version is done with a dead letter.
        # Planning again would send the same refused correction under a new key (and dead-letter it
        # twice); `seatsync dead-letters retry` makes the account due again.
        outcome.synced_version = claimed_version
        return outcome

    # 2. Read the provider, guard against drift, plan the difference.
    state = _read_state(db, provider, linked, catalog, now_us, options, outcome, claimed_version)
    if state is None:
        return outcome

    if not _takes_writes(db, provider, linked, state, now_us, options, outcome, claimed_version):
        return outcome

    try:
        planned = plan_specs(db, catalog, linked, state, now_us=now_us(), outcome=outcome, on_drift=on_drift,
                             backdating=bool(getattr(provider, "backdating", False)))
    except TranslateError as exc:
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.translate",
                               code="policy_not_supported", status=None, reason=str(exc), request_id=None,
                               now_us=now_us())
        outcome.dead += 1
        outcome.synced_version = claimed_version
        return outcome

    quantity_specs = [s for s in planned.specs if s.quantity is not None]
    hourly = registry.get(linked.provider).quantity_updates_per_hour
    if hourly is not None and quantity_specs:
        wait_until = budget_wait(store.quantity_call_times_since(db, linked.subscription, now_us() - HOUR_US),
                                 len(quantity_specs), limit=hourly)
        if wait_until is not None:
            # Wait rather than be refused: the changes keep coalescing meanwhile, and are planned
            # afresh when the hour's window has room for them.
            outcome.deferred = True
            outcome.retry_at_us = wait_until
            return outcome

    with store.write_transaction(db):
        for late in planned.late:
            store.record_late_change(db, account, linked.subscription, now_us=now_us(), **late)
        batch_id = store.record_batch(db, planned.batch) if planned.batch else None
        first = store.calls_planned_count(db, linked.subscription)
        rows = [_row(linked, spec, claimed_version, first + n, now_us(), batch_id)
                for n, spec in enumerate(planned.specs)]
        store.plan_calls(db, rows)
    waiting = planned.waiting

    # 3. Send them.
    if _send_planned(db, provider, account, owner, now_us, options, outcome):
        if waiting:
            outcome.waiting = True
        else:
            outcome.synced_version = claimed_version
    return outcome


def _read_state(db: sqlite_utils.Database, provider: Provider, linked: Account, catalog: Catalog,
                now_us: Callable[[], int], options: SyncOptions, outcome: Outcome,
                claimed_version: int) -> SubscriptionState | None:
    """The subscription as the provider has it, or None with the outcome saying why (deferred or dead)."""
    account = linked.account
    try:
        return call_with_retries(lambda: provider.read(linked.subscription, catalog),
                                 attempts=options.retry_attempts, initial=options.retry_initial,
                                 maximum=options.retry_maximum, sleep=options.sleep or time.sleep)
    except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes
        failure = classify(exc)
        if failure.transient:
            log.warning("reading %s from %s deferred: %s", linked.subscription, provider.name, failure.reason)
            outcome.deferred = True
            outcome.retry_at_us = soon_after(failure, now_us())
            return None
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.read_subscription",
                               code=failure.code, status=failure.status, reason=failure.reason,
                               request_id=failure.request_id, now_us=now_us())
        outcome.dead += 1
        outcome.synced_version = claimed_version
        return None


def _takes_writes(db: sqlite_utils.Database, provider: Provider, linked: Account, state: SubscriptionState,
                  now_us: Callable[[], int], options: SyncOptions, outcome: Outcome, claimed_version: int) -> bool:
    """Whether this pass may write to the subscription it just read: not cancelled or paused (the mirror
    may not have heard yet), and its metadata names this account (sync/owner.py)."""
    if held(db, linked, now_us(), state.lifecycle):
        outcome.held = True
        outcome.synced_version = claimed_version
        return False
    if not owned(db, provider, linked, state, now_us, options, outcome):
        if not outcome.deferred:
            outcome.synced_version = claimed_version
        return False
    return True


def idempotency_key(subscription: str, version: int, seq: int) -> str:
    """Deterministic per (subscription, ledger version, call number); ≤ 100 chars for Chargebee."""
    return f"seatsync:{subscription}:{version}:{seq}"[:100]


def _row(linked: Account, spec: CallSpec, version: int, seq: int, planned_us: int,
         batch_id: int | None) -> store.Row:
    return {"batch_id": batch_id,
        "account": linked.account, "provider": linked.provider, "subscription": linked.subscription,
        "version": version, "seq": seq, "idempotency_key": idempotency_key(linked.subscription, version, seq),
        "kind": spec.kind, "operation": spec.operation, "target": spec.target,
        "params": json.dumps(spec.params, sort_keys=True), "effective_us": spec.effective_us,
        "quantity": spec.quantity, "planned_us": planned_us,
    }


def _send_planned(db: sqlite_utils.Database, provider: Provider, account: str, owner: str,
                  now_us: Callable[[], int], options: SyncOptions, outcome: Outcome) -> bool:
    """Send every planned call in order; False if the pass must stop here."""
    for call in store.planned_calls(db, account):
        if not store.holds_lease(db, account, owner, now_us()):
            outcome.deferred = True  # another worker owns it now; it will resend the same call
            return False
        spec = CallSpec(call["kind"], call["operation"], call["target"], json.loads(call["params"]),
                        call["quantity"], call["effective_us"])
        store.record_call_attempt(db, call["id"])
        try:
            send = observed_send(provider, spec, account=account, subscription=call["subscription"],
                                 idempotency_key=call["idempotency_key"])
            request_id, response = call_with_retries(
                send, attempts=options.retry_attempts, initial=options.retry_initial,
                maximum=options.retry_maximum, sleep=options.sleep or time.sleep)
        except Exception as exc:  # noqa: BLE001
            failure = classify(exc)
            if failure.transient:
                log.warning("call %s to %s deferred: %s", call["idempotency_key"], provider.name, failure.reason)
                outcome.deferred = True
                outcome.retry_at_us = soon_after(failure, now_us())
                return False
            store.dead_letter_call(db, call, code=failure.code, status=failure.status, reason=failure.reason,
                                   request_id=failure.request_id, now_us=now_us())
            outcome.dead += 1
            metrics.DEAD_LETTERS.labels(provider.name).inc()
            return True  # the rest of the batch was dead-lettered with it; the version is done
        with store.write_transaction(db):
            store.complete_call(db, call["id"], request_id=request_id, response=json.dumps(response, default=str),
                                completed_us=now_us())
            if call["quantity"] is not None:
                store.set_last_set_quantity(db, account, call["quantity"])
        outcome.sent += 1
    return True


@dataclass
class Planned:
    """One pass's plan: the calls, the late changes to record with them, what the calls stand for."""

    specs: list[CallSpec]
    late: list[LateChange]
    waiting: bool
    batch: store.Row | None  # a sync_batches row
    quantity_plan: SeatPlan | None = None


def plan_specs(db: sqlite_utils.Database, catalog: Catalog, linked: Account, state: SubscriptionState, *,
               now_us: int, outcome: Outcome, on_drift: Callable[[Drift], None] | None = None,
               backdating: bool = False) -> Planned:
    """The calls that bring the provider in line with the ledger, the late changes found, and whether
    ledger changes lie beyond what the provider can take yet (ahead of its clock)."""
    account = linked.account
    start, end = state.period_start_us, state.period_end_us
    provider_now = state_now(state, now_us)
    # A change cannot be dated ahead of the provider's clock (Stripe's proration_date, Chargebee's
    # changes_scheduled_at; an immediate Chargebee change happens at its now): later ones wait.
    horizon = min(end, max(start, provider_now) + 1)
    plan = catalog.plans[ledger.plan_at(db, account, horizon - 1) or linked.plan]
    timezone = linked.timezone or plan.timezone
    specs: list[CallSpec] = []

    sync = _baseline_or_drift(db, linked, state, start=start, provider_now=provider_now, now_us=now_us,
                              outcome=outcome, on_drift=on_drift)

    # Plan changes: one update that swaps the prices and keeps the quantity.
    current_quantity = state.quantity or 0
    window_start = max(start, sync.get("baseline_us") or start)
    grid = _grid(db, linked, state, plan, timezone, start, provider_now, backdating)
    late: list[LateChange] = []
    day_price = plan.seat.at(_period_day(state, plan, timezone)).price_id
    if state.seat_price is not None and state.seat_price != day_price:
        old_plan = _plan_by_seat_price(catalog, state.seat_price, state.provider)
        if old_plan is not None and old_plan.id != plan.id:
            changes = ledger.plan_changes(db, account, start, horizon)
            at = _proration_instant(plan, timezone, changes[-1].instant_us if changes else start, start)
            quantity = max(current_quantity, registry.get(state.provider).minimum_quantity)
            specs.append(plan_change_call(old_plan, plan, state, quantity=quantity, effective_us=at,
                                          timezone=timezone))
            if not registry.get(state.provider).plan_changes_dated:
                # The provider changes plans when asked, not when the product switched: record the money.
                day = _period_day(state, plan, timezone)
                gained = _period_value(plan, quantity, day) - _period_value(old_plan, quantity, day)
                amount = gained * (grid.measure(max(grid.snap(at), window_start)) - grid.measure(provider_now))
                if amount:
                    late.append({"kind": "applied_now", "instant_us": at, "delta": 0, "unit": grid.unit,
                                 "period_units": grid.measure(start), "amount": amount, "period_start_us": start})
            # The rest of the pass is planned against the subscription as it will be after the switch
            # (a quantity call naming the old price would put it back, or be refused).
            state = subscription_after_plan_change(state, plan, timezone)

    quantity_plan = None
    batch = None
    previous = current_quantity
    if window_start < horizon:
        pushed = pushed_position(db, linked, sync, start=start, window_start=window_start, grid=grid)
        truth = _truth(db, account, plan, start, horizon).snapped(lambda t: max(grid.snap(t), window_start))
        quantity_plan = plan_quantities(
            truth, pushed.covered, quantity=current_quantity, pushed_money=pushed.money,
            window_start=window_start, horizon=horizon, grid=grid,
            prorates=(plan.increase != "at_renewal", plan.decrease != "at_renewal"),
            dip_first=plan.increase == "invoice_now")
        for instant, delta in quantity_plan.footprint:
            if instant == start == window_start and sync.get("baseline_us") is not None \
                    and sync["baseline_us"] < start:
                late.append({"kind": "across_period", "instant_us": instant, "delta": delta})
        if quantity_plan.moved:
            # Never a silent shift: the exact seat-time billed from another instant, and its money.
            unit_amount = plan.seat.at(_period_day(state, plan, timezone)).unit_amount
            late.append({"kind": "applied_now" if quantity_plan.strategy == "at_now" else "shifted",
                         "instant_us": quantity_plan.window[0], "delta": truth.at(horizon - 1) - current_quantity,
                         "moved": quantity_plan.moved, "unit": grid.unit, "period_units": grid.measure(start),
                         "amount": quantity_plan.moved * unit_amount, "period_start_us": start})
        for call in quantity_plan.calls:
            backdate = call.date_us if grid.dating != "now" and call.date_us < provider_now else None
            specs.append(quantity_call(plan, state, old=previous, new=call.quantity, effective_us=call.date_us,
                                       backdate_us=backdate))
            previous = call.quantity
        if quantity_plan.footprint or quantity_plan.calls or quantity_plan.residual:
            batch = {"account": account, "subscription": linked.subscription, "period_start_us": start,
                     "covered": truth.to_json(), "window_start_us": quantity_plan.window[0],
                     "horizon_us": horizon, "quantity_before": current_quantity, "residual": quantity_plan.residual,
                     "last_drift_id": store.last_drift_id(db, account, linked.subscription),
                     "strategy": quantity_plan.strategy, "created_us": now_us}

    addons = ledger.addons_at(db, account, horizon - 1)
    addon_spec = addons_call(plan, catalog.addons, state, enabled=tuple(a for a in addons if a in catalog.addons),
                             seats=previous,
                             effective_us=_proration_instant(plan, timezone,
                                                             _latest_addon_change(db, account, start, horizon), start),
                             timezone=timezone)
    if addon_spec is not None:
        specs.append(addon_spec)
    if any(s.kind == "quantity" and s.quantity is not None for s in specs):
        threshold = threshold_call(plan, state)
        if threshold is not None:
            specs.append(threshold)
    switch = price_switch_call(plan, state, timezone, quantity=previous, specs=specs)
    if switch is not None:
        specs.append(switch)  # last: an immediate change before it would delete a scheduled one
    beyond = horizon + YEAR_US * 2
    waiting = bool(ledger.changes(db, account, horizon, beyond) or ledger.plan_changes(db, account, horizon, beyond)
                   or ledger.addon_changes(db, account, horizon, beyond))
    return Planned(specs, late, waiting, batch, quantity_plan)


def _baseline_or_drift(db: sqlite_utils.Database, linked: Account, state: SubscriptionState, *, start: int,
                       provider_now: int, now_us: int, outcome: Outcome,
                       on_drift: Callable[[Drift], None] | None = None) -> store.Row:
    """The account's sync state after the first look at its subscription (a baseline) or a drift check."""
    account = linked.account
    sync = store.sync_state(db, account) or {}
    if sync.get("baseline_quantity") is None and state.quantity is not None:
        # First look at this subscription: what it billed up to the link is taken as given; from the
        # link on it must follow the ledger. The link instant, not this look's: seat changes between the
        # two are dated as they happened, as reconciliation (adapter/billing/expected) expects them.
        store.set_baseline(db, account, state.quantity, max(start, min(provider_now, linked.linked_us)))
        return store.sync_state(db, account) or {}
    if state.quantity is not None and sync.get("last_set_quantity") is not None \
            and state.quantity != sync["last_set_quantity"]:
        drift = Drift(account=account, subscription=linked.subscription, expected=sync["last_set_quantity"],
                      actual=state.quantity, at_us=provider_now)
        # One transaction: a crash in between must not record the drift (and notify the product) twice.
        with store.write_transaction(db):
            store.record_drift(db, account, linked.subscription, expected=sync["last_set_quantity"],
                               actual=state.quantity, now_us=drift["at_us"], recorded_us=now_us)
            store.set_last_set_quantity(db, account, state.quantity)
            if on_drift:
                on_drift(drift)
        outcome.drift = True
    return sync


def _grid(db: sqlite_utils.Database, linked: Account, state: SubscriptionState, plan: Plan, timezone: str,
          start: int, provider_now: int, backdating: bool) -> Grid:
    """How this subscription's provider can date a change now (adapter/providers/<name>: ``grid``)."""
    last_change = max([date for _, date, _ in store.pushed_events(db, linked.account, linked.subscription, start)[1]],
                      default=start)
    return registry.get(state.provider).grid(plan, state, timezone, period_start_us=start,
                                             provider_now_us=provider_now, backdating=backdating,
                                             last_change_us=last_change)


def _period_value(plan: Plan, seats: int, day: dt.date) -> int:
    """What a whole period of ``plan`` costs with ``seats`` billable seats (minor units)."""
    return seats * plan.seat.at(day).unit_amount + (plan.base_fee.at(day).unit_amount if plan.base_fee else 0)


def state_now(state: SubscriptionState, now_us: int) -> int:
    """The provider's notion of now (a Stripe test clock's frozen time), else the wall clock."""
    return state.now_us or now_us


def _period_day(state: SubscriptionState, plan: Plan, timezone: str | None) -> dt.date:
    from adapter.providers.translate import period_price_day

    return period_price_day(state, plan, timezone)


def _plan_by_seat_price(catalog: Catalog, price_id: str, provider: str) -> Plan | None:
    return next((plan for plan in catalog.plans.values() if plan.provider == provider and price_id in plan.seat.ids),
                None)


def _truth(db: sqlite_utils.Database, account: str, plan: Plan, start: int, end: int) -> Timeline:
    """The ledger's billable quantity over [start, end)."""
    initial = count = ledger.seat_count(db, account, start - 1)
    points = []
    for change in ledger.changes(db, account, start, end):
        count += 1 if change.active else -1
        points.append((change.instant_us, plan.billable_seats(count)))
    return Timeline.from_points(plan.billable_seats(initial), points)


def _proration_instant(plan: Plan, timezone: str, instant_us: int, start_us: int) -> int:
    """Where a plan or addon change is prorated from: its instant, or the start of its local
    day for day-granular policies (as the quantity calls are, via coalesce), never before the period."""
    if plan.proration == "day":
        instant_us = to_us(local_midnight(from_us(instant_us), timezone))
    return max(instant_us, start_us)


def _latest_addon_change(db: sqlite_utils.Database, account: str, start: int, end: int) -> int:
    changes = ledger.addon_changes(db, account, start, end)
    return changes[-1].instant_us if changes else start
