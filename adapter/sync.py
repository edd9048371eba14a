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

import json
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

import sqlite_utils

from adapter import ledger, store
from adapter.accounts import get_account
from adapter.coalesce import QuantityCall, SeatDelta, coalesce
from adapter.intake import from_us, to_us
from adapter.periods import local_midnight
from adapter.policy import Catalog, Plan
from adapter.retry import call_with_retries, classify
from adapter.timeline import Timeline, corrections
from adapter.translate import (CallSpec, SubscriptionState, TranslateError, addons_call, plan_change_call,
                               quantity_call, threshold_call)

log = logging.getLogger(__name__)

STRIPE_QUANTITY_UPDATES_PER_HOUR = 200  # reference/stripe.md §6 (RL-JA)
HOUR_US = 3600 * 1_000_000
YEAR_US = 366 * 24 * HOUR_US


class Provider(Protocol):
    name: str

    def read(self, subscription: str, catalog: Catalog) -> SubscriptionState: ...

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict]: ...


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


@dataclass
class SyncOptions:
    retry_attempts: int = 5
    retry_initial: float = 0.5
    retry_maximum: float = 8.0
    sleep: Callable[[float], None] | None = None


def sync_account(db: sqlite_utils.Database, catalog: Catalog, providers: dict[str, Provider], *, account: str,
                 claimed_version: int, owner: str, now_us: Callable[[], int] = ledger.now_us,
                 options: SyncOptions | None = None, on_drift: Callable[[dict], None] | None = None) -> Outcome:
    """One pass for one leased account. Never raises for provider failures: they end in dead letters or a retry later."""
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

    # 1. Finish what an earlier pass planned.
    if not _send_planned(db, provider, account, owner, now_us, options, outcome):
        return outcome
    if outcome.dead:
        # The provider refused the batch for good: the claimed version is done with a dead letter.
        # Planning again would send the same refused correction under a new key (and dead-letter it
        # twice); `seatsync dead-letters retry` makes the account due again.
        outcome.synced_version = claimed_version
        return outcome

    # 2. Read the provider, guard against drift, plan the difference.
    try:
        state = call_with_retries(lambda: provider.read(linked.subscription, catalog), attempts=options.retry_attempts,
                                  initial=options.retry_initial, maximum=options.retry_maximum,
                                  **({"sleep": options.sleep} if options.sleep else {}))
    except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes
        failure = classify(exc)
        if failure.transient:
            outcome.deferred = True
            return outcome
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.read_subscription",
                               code=failure.code, status=failure.status, reason=failure.reason,
                               request_id=failure.request_id, now_us=now_us())
        outcome.dead += 1
        outcome.synced_version = claimed_version
        return outcome

    try:
        specs, late, waiting = plan_specs(db, catalog, linked, state, now_us=now_us(), outcome=outcome,
                                          on_drift=on_drift)
    except TranslateError as exc:
        store.dead_letter_read(db, account, linked.subscription, operation=f"{linked.provider}.translate",
                               code="policy_not_supported", status=None, reason=str(exc), request_id=None,
                               now_us=now_us())
        outcome.dead += 1
        outcome.synced_version = claimed_version
        return outcome

    quantity_specs = [s for s in specs if s.quantity is not None]
    if provider.name == "stripe" and quantity_specs:
        recent = store.quantity_calls_since(db, linked.subscription, now_us() - HOUR_US)
        if recent + len(quantity_specs) > STRIPE_QUANTITY_UPDATES_PER_HOUR:
            # Wait rather than be refused: the changes keep coalescing meanwhile.
            outcome.deferred = True
            return outcome

    with store.write_transaction(db):
        for kind, instant_us, delta in late:
            store.record_late_change(db, account, linked.subscription, kind=kind, instant_us=instant_us, delta=delta,
                                     now_us=now_us())
        first = store.calls_planned_count(db, linked.subscription)
        rows = [_row(linked, spec, claimed_version, first + n, now_us()) for n, spec in enumerate(specs)]
        store.plan_calls(db, rows)

    # 3. Send them.
    if _send_planned(db, provider, account, owner, now_us, options, outcome):
        if waiting:
            outcome.waiting = True
        else:
            outcome.synced_version = claimed_version
    return outcome


def idempotency_key(subscription: str, version: int, seq: int) -> str:
    """Deterministic per (subscription, ledger version, call number); ≤ 100 chars for Chargebee."""
    return f"seatsync:{subscription}:{version}:{seq}"[:100]


def _row(linked, spec: CallSpec, version: int, seq: int, planned_us: int) -> dict:
    return {
        "account": linked.account, "provider": linked.provider, "subscription": linked.subscription,
        "version": version, "seq": seq, "idempotency_key": idempotency_key(linked.subscription, version, seq),
        "kind": spec.kind, "operation": spec.operation, "target": spec.target,
        "params": json.dumps(spec.params, sort_keys=True), "effective_us": spec.effective_us,
        "quantity": spec.quantity, "planned_us": planned_us,
    }


def _send_planned(db, provider: Provider, account: str, owner: str, now_us, options: SyncOptions,
                  outcome: Outcome) -> bool:
    """Send every planned call in order; False if the pass must stop here."""
    for call in store.planned_calls(db, account):
        if not store.holds_lease(db, account, owner, now_us()):
            outcome.deferred = True  # another worker owns it now; it will resend the same call
            return False
        spec = CallSpec(call["kind"], call["operation"], call["target"], json.loads(call["params"]),
                        call["quantity"], call["effective_us"])
        store.record_call_attempt(db, call["id"])
        try:
            request_id, response = call_with_retries(
                lambda: provider.send(spec, call["idempotency_key"]), attempts=options.retry_attempts,
                initial=options.retry_initial, maximum=options.retry_maximum,
                **({"sleep": options.sleep} if options.sleep else {}))
        except Exception as exc:  # noqa: BLE001
            failure = classify(exc)
            if failure.transient:
                log.warning("call %s to %s deferred: %s", call["idempotency_key"], provider.name, failure.reason)
                outcome.deferred = True
                return False
            store.dead_letter_call(db, call, code=failure.code, status=failure.status, reason=failure.reason,
                                   request_id=failure.request_id, now_us=now_us())
            outcome.dead += 1
            return True  # the rest of the batch was dead-lettered with it; the version is done
        with store.write_transaction(db):
            store.complete_call(db, call["id"], request_id=request_id, response=json.dumps(response, default=str),
                                completed_us=now_us())
            if call["quantity"] is not None:
                store.set_last_set_quantity(db, account, call["quantity"])
        outcome.sent += 1
    return True


def plan_specs(db, catalog: Catalog, linked, state: SubscriptionState, *, now_us: int, outcome: Outcome,
               on_drift=None) -> tuple[list[CallSpec], list[tuple[str, int, int]], bool]:
    """The calls that bring the provider in line with the ledger, the late changes found
    (kind, instant, delta), and whether ledger changes lie beyond what the provider can take yet."""
    account = linked.account
    start, end = state.period_start_us, state.period_end_us
    # Stripe takes a proration_date, which cannot lie ahead of its clock; a Chargebee
    # change applies when it is made, so every ledger change of the period is due.
    horizon = end if state.provider == "chargebee" else min(end, max(start, state_now(state, now_us)) + 1)
    plan = catalog.plans[ledger.plan_at(db, account, horizon - 1) or linked.plan]
    timezone = linked.timezone or plan.timezone
    specs: list[CallSpec] = []

    sync = store.sync_state(db, account) or {}
    if sync.get("baseline_quantity") is None and state.quantity is not None:
        # First look at this subscription: what it bills up to now is taken as given;
        # from now on it must follow the ledger.
        store.set_baseline(db, account, state.quantity, max(start, state_now(state, now_us)))
        sync = store.sync_state(db, account)
    elif state.quantity is not None and sync.get("last_set_quantity") is not None \
            and state.quantity != sync["last_set_quantity"]:
        drift = {"account": account, "subscription": linked.subscription,
                 "expected": sync["last_set_quantity"], "actual": state.quantity, "at_us": state_now(state, now_us)}
        # One transaction: a crash in between must not record the drift (and notify the product) twice.
        with store.write_transaction(db):
            store.record_drift(db, account, linked.subscription, expected=sync["last_set_quantity"],
                               actual=state.quantity, now_us=drift["at_us"], recorded_us=now_us)
            store.set_last_set_quantity(db, account, state.quantity)
            if on_drift:
                on_drift(drift)
        outcome.drift = True

    # Plan changes: one update that swaps the prices and keeps the quantity.
    current_quantity = state.quantity or 0
    day_price = plan.seat.at(_period_day(state, plan, timezone)).price_id
    if state.seat_price is not None and state.seat_price != day_price:
        old_plan = _plan_by_seat_price(catalog, state.seat_price, state.provider)
        if old_plan is not None and old_plan.id != plan.id:
            changes = ledger.plan_changes(db, account, start, horizon)
            at = _proration_instant(plan, timezone, changes[-1].instant_us if changes else start, start)
            specs.append(plan_change_call(old_plan, plan, state, quantity=max(current_quantity, 1 if state.provider == "chargebee" else 0),
                                          effective_us=at, timezone=timezone))

    # Corrections start at the period start, or at seatsync's first look if that was later.
    window_start = max(start, sync.get("baseline_us") or start)
    truth = _truth(db, account, plan, start, horizon)
    pushed = _pushed(db, account, linked.subscription)
    fixes = corrections(truth, pushed, window_start, horizon) if window_start < horizon else []
    late = [("across_period", instant, delta) for instant, delta in fixes
            if instant == start == window_start and truth.at(start) != pushed.at(start)
            and sync.get("baseline_us") is not None and sync["baseline_us"] < start]
    deltas = [SeatDelta(from_us(instant), delta, n) for n, (instant, delta) in enumerate(fixes)]
    last_pushed = max((s[0] for s in pushed.steps), default=None)
    calls: list[QuantityCall] = coalesce(current_quantity, deltas, granularity=plan.proration, tz=timezone)
    previous = current_quantity
    for call in calls:
        effective = max(to_us(call.proration_date), start)
        if state.provider == "chargebee" and last_pushed is not None and effective < last_pushed:
            # Chargebee has no proration_date, and backdating (change_option=specific_date) must
            # follow the last item change, so an out-of-order correction applies from Chargebee's
            # now. Ops sees it; reconciliation accounts for the difference.
            late.append(("applied_now", effective, call.quantity - previous))
        specs.append(quantity_call(plan, state, old=previous, new=call.quantity, effective_us=effective))
        previous = call.quantity

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
    beyond = horizon + YEAR_US * 2
    waiting = bool(ledger.changes(db, account, horizon, beyond) or ledger.plan_changes(db, account, horizon, beyond)
                   or ledger.addon_changes(db, account, horizon, beyond))
    return specs, late, waiting


def state_now(state: SubscriptionState, now_us: int) -> int:
    """The provider's notion of now (a Stripe test clock's frozen time), else the wall clock."""
    return state.now_us if getattr(state, "now_us", None) else now_us


def _period_day(state, plan, timezone):
    from adapter.translate import period_price_day

    return period_price_day(state, plan, timezone)


def _plan_by_seat_price(catalog: Catalog, price_id: str, provider: str) -> Plan | None:
    return next((plan for plan in catalog.plans.values() if plan.provider == provider and price_id in plan.seat.ids),
                None)


def _truth(db, account: str, plan: Plan, start: int, end: int) -> Timeline:
    """The ledger's billable quantity over [start, end)."""
    initial = count = ledger.seat_count(db, account, start - 1)
    points = []
    for change in ledger.changes(db, account, start, end):
        count += 1 if change.active else -1
        points.append((change.instant_us, plan.billable_seats(count)))
    return Timeline.from_points(plan.billable_seats(initial), points)


def _pushed(db, account: str, subscription: str) -> Timeline:
    """What the provider has been told: the baseline, then each call's and each drift's delta from its instant on."""
    sync = store.sync_state(db, account) or {}
    baseline = sync.get("baseline_quantity") or 0
    events = [(row["completed_us"], row["effective_us"], "call", row["quantity"])
              for row in store.succeeded_quantity_calls(db, account, subscription)]
    events += [(row["recorded_us"], row["detected_us"], "drift", row["provider_quantity"])
               for row in store.drifts_for(db, account, subscription)]
    current = baseline
    deltas: dict[int, int] = {}
    for _, instant, _, quantity in sorted(events, key=lambda e: (e[0], e[2])):
        deltas[instant] = deltas.get(instant, 0) + quantity - current
        current = quantity
    points, running = [], baseline
    for instant in sorted(deltas):
        running += deltas[instant]
        points.append((instant, running))
    return Timeline(baseline, tuple(points))


def _proration_instant(plan: Plan, timezone: str, instant_us: int, start_us: int) -> int:
    """Where a plan or addon change is prorated from: its instant, or the start of its local
    day for day-granular policies (as the quantity calls are, via coalesce), never before the period."""
    if plan.proration == "day":
        instant_us = to_us(local_midnight(from_us(instant_us), timezone))
    return max(instant_us, start_us)


def _latest_addon_change(db, account: str, start: int, end: int) -> int:
    changes = ledger.addon_changes(db, account, start, end)
    return changes[-1].instant_us if changes else start
