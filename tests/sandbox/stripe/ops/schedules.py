"""Subscription schedules made from a subscription (reference stripe.md §4; stripe-python 16.1.0
``SubscriptionSchedule`` and ``stripe.params.SubscriptionSchedule*Params``).

- ``from_subscription``: "a subscription schedule will be created using the subscription's
  item(s), set to auto-renew using the subscription's interval. When using this parameter, other
  parameters (such as phase values) cannot be set": one phase over the current period, the
  subscription's items, ``end_behavior=release``; the subscription's ``schedule`` names it.
- Update: the phases are resent whole (the first one keeps the current phase's ``start_date``,
  reference §4 community note); "consecutive phases share end/start"; request-level
  ``proration_behavior`` "applies if the update changes the current phase" (the change is made
  to the subscription now), phase-level ``proration_behavior`` at transitions.
- Transitions: "When a phase starts, Stripe updates the subscription based on the next phase's
  attributes" — the renewal at the boundary bills the new phase's prices and quantities. "A
  subscription schedule is completed after the last phase is finished": ``release`` keeps the
  subscription running (schedule ``completed``), ``cancel`` cancels it (no renewal invoice).
- ``release`` "will stop scheduling of its phases, but leave any existing subscription in place
  ... remove its subscription property and set the subscription's ID to the released_subscription
  property"; ``cancel`` "Cancels a subscription schedule and its associated subscription
  immediately"; both only while ``not_started`` or ``active``.

Sandbox limits and readings (UNVERIFIED): phase boundaries must fall on the subscription's
billing-period ends (a mid-period transition, where phase ``proration_behavior`` would matter, is
refused), so a transition never prorates; a last phase without ``end_date`` lasts one billing
interval; every phase uses the subscription's interval and currency; a completed schedule's
``released_subscription`` stays null; ``customer.subscription.updated`` is sent when the
subscription's ``schedule`` field is set or cleared; the wording of every refusal.
"""

from __future__ import annotations

from .. import billing
from ..errors import StripeError
from . import lifecycle
from .objects import emit, merge_metadata, render
from .subscriptions import change_items, interval_of, new_item, period_of, price_interval
from ..state import Ledger

END_BEHAVIORS = ("release", "cancel")  # stripe-python also declares none and renew: not modelled
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")


def unsupported(param: str, why: str = "") -> StripeError:
    return StripeError(400, "invalid_request_error", f"The sandbox does not implement parameter: {param}{why}",
                       code="parameter_unsupported", param=param, stored=False)


def _phase(sub: dict, start: int, end: int, items: list[tuple[str, int]], proration_behavior: str) -> dict:
    return {"add_invoice_items": [], "application_fee_percent": None, "automatic_tax": None,
            "billing_cycle_anchor": None, "billing_thresholds": None, "collection_method": None,
            "currency": sub["currency"], "default_payment_method": None, "default_tax_rates": [],
            "description": None, "discounts": [], "end_date": end, "invoice_settings": None,
            "items": [{"billing_thresholds": None, "discounts": [], "metadata": {}, "plan": price,
                       "price": price, "quantity": quantity, "tax_rates": []} for price, quantity in items],
            "metadata": {}, "on_behalf_of": None, "proration_behavior": proration_behavior,
            "start_date": start, "transfer_data": None, "trial_end": None}


def _set_schedule_field(ledger: Ledger, sub: dict, value: str | None) -> None:
    previous = {"schedule": sub["schedule"]}
    sub["schedule"] = value
    emit(ledger, "customer.subscription.updated", sub, previous)


def from_subscription(ledger: Ledger, sub: dict) -> dict:
    if sub["status"] not in ("active", "past_due"):
        raise StripeError.state(f"A {sub['status']} subscription cannot be managed by a schedule.",
                                param="from_subscription")
    if sub["schedule"]:
        raise StripeError.state("This subscription is already managed by a subscription schedule.",
                                param="from_subscription")
    now = ledger.now(sub["customer"])
    start, end = period_of(ledger, sub)
    items = [(ledger.items[i]["price"], ledger.items[i]["quantity"]) for i in sub["item_ids"]]
    schedule = {"id": ledger.new_id("sub_sched"), "object": "subscription_schedule", "application": None,
                "billing_mode": {"type": "flexible", "flexible": None, "updated_at": None},
                "canceled_at": None, "completed_at": None, "created": now,
                "current_phase": {"start_date": start, "end_date": end}, "customer": sub["customer"],
                "customer_account": None,
                "default_settings": {"application_fee_percent": None,
                                     "automatic_tax": {"enabled": False, "liability": None,
                                                       "disabled_reason": None},
                                     "billing_cycle_anchor": "automatic", "billing_thresholds": None,
                                     "collection_method": "charge_automatically", "default_payment_method": None,
                                     "description": None,
                                     "invoice_settings": {"account_tax_ids": None, "days_until_due": None,
                                                          "issuer": {"type": "self"}},
                                     "on_behalf_of": None, "transfer_data": None},
                "end_behavior": "release", "livemode": False, "metadata": {}, "pause_schedules": [],
                "phases": [_phase(sub, start, end, items, "create_prorations")], "released_at": None,
                "released_subscription": None, "status": "active", "subscription": sub["id"],
                "test_clock": sub["test_clock"]}
    ledger.schedules[schedule["id"]] = schedule
    emit(ledger, "subscription_schedule.created", schedule)
    _set_schedule_field(ledger, sub, schedule["id"])
    return schedule


def _check_open(schedule: dict, action: str) -> None:
    if schedule["status"] not in ("not_started", "active"):
        raise StripeError.state(f"You cannot {action} a subscription schedule that is currently in the "
                                f"`{schedule['status']}` status.", param="schedule")


def _is_boundary(ledger: Ledger, sub: dict, at: int) -> bool:
    interval, count = interval_of(ledger, sub)
    return billing.period_containing(sub["billing_cycle_anchor"], interval, count, at)[0] == at


def _parse_phases(ledger: Ledger, schedule: dict, sub: dict, raw_phases: list) -> list[dict]:
    if not raw_phases:
        raise StripeError.missing("phases")
    start = schedule["current_phase"]["start_date"]
    interval = interval_of(ledger, sub)
    phases = []
    for n, raw in enumerate(raw_phases):
        where = f"phases[{n}]"
        for key in raw:
            if key not in ("items", "start_date", "end_date", "proration_behavior"):
                raise unsupported(f"{where}[{key}]")
        given_start = raw.get("start_date")
        if given_start is not None:
            if given_start == "now" or int(given_start) != start:
                why = ("the first phase keeps the current phase's start_date" if n == 0
                       else "phases are consecutive: a phase starts when the one before ends")
                raise StripeError.invalid(f"Invalid {where}[start_date]: {why}.", param=f"{where}[start_date]")
        items = []
        for i, item in enumerate(raw.get("items") or []):
            for key in item:
                if key not in ("price", "quantity"):
                    raise unsupported(f"{where}[items][{i}][{key}]")
            if not item.get("price"):
                raise StripeError.missing(f"{where}[items][{i}][price]")
            price = ledger.get(ledger.prices, "price", item["price"], f"{where}[items][{i}][price]")
            if price["currency"] != sub["currency"] or price_interval(ledger, price["id"]) != interval:
                raise unsupported(f"{where}[items][{i}][price]", " (the sandbox keeps a schedule's phases in the "
                                  "subscription's currency and billing interval)")
            quantity = int(item["quantity"]) if item.get("quantity") is not None else 1
            if quantity < 0:
                raise StripeError.invalid(f"Invalid {where}[items][{i}][quantity]: must be at least 0",
                                          param=f"{where}[items][{i}][quantity]")
            items.append((price["id"], quantity))
        if not items:
            raise StripeError.missing(f"{where}[items]")
        raw_end = raw.get("end_date")
        if raw_end is None and n < len(raw_phases) - 1:
            raise StripeError.missing(f"{where}[end_date]")
        if raw_end == "now":
            raise unsupported(f"{where}[end_date]", " (now)")
        end = int(raw_end) if raw_end is not None else billing.add_interval(start, *interval, 1)
        if end <= start or end <= ledger.now(sub["customer"]) or not _is_boundary(ledger, sub, end):
            raise unsupported(f"{where}[end_date]", " (the sandbox needs phase ends after now, on the "
                              "subscription's billing-period ends)")
        behavior = raw.get("proration_behavior") or "create_prorations"
        if behavior not in PRORATION_BEHAVIORS:
            raise StripeError.invalid(f"Invalid {where}[proration_behavior]: must be one of "
                                      f"{', '.join(PRORATION_BEHAVIORS)}", param=f"{where}[proration_behavior]")
        phases.append(_phase(sub, start, end, items, behavior))
        start = end
    return phases


def _current_items(ledger: Ledger, sub: dict) -> list[tuple[str, int]]:
    return [(ledger.items[i]["price"], ledger.items[i]["quantity"]) for i in sub["item_ids"]]


def _phase_items(phase: dict) -> list[tuple[str, int]]:
    return [(item["price"], item["quantity"]) for item in phase["items"]]


def _changes_to(ledger: Ledger, sub: dict, wanted: list[tuple[str, int]]) -> list[dict]:
    """``change_items`` changes that turn the subscription's items into ``wanted`` (matched by price)."""
    by_price = {ledger.items[i]["price"]: ledger.items[i] for i in sub["item_ids"]}
    changes = [{"param": "items", "id": item["id"], "deleted": True} for price, item in by_price.items()
               if price not in dict(wanted)]
    for price, quantity in wanted:
        item = by_price.get(price)
        changes.append({"param": "items", "id": item["id"] if item else None, "price": price, "quantity": quantity})
    return changes


def update(ledger: Ledger, schedule: dict, *, phases, end_behavior: str | None, metadata: dict | None,
           proration_behavior: str) -> dict:
    _check_open(schedule, "update")
    sub = ledger.subscriptions[schedule["subscription"]]
    previous: dict = {}
    if phases is not None:
        parsed = _parse_phases(ledger, schedule, sub, phases)
        previous["phases"] = schedule["phases"]
        schedule["phases"] = parsed
        schedule["current_phase"] = {"start_date": parsed[0]["start_date"], "end_date": parsed[0]["end_date"]}
        if sorted(_phase_items(parsed[0])) != sorted(_current_items(ledger, sub)):
            change_items(ledger, sub, _changes_to(ledger, sub, _phase_items(parsed[0])),
                         proration_behavior=proration_behavior, proration_date=None, metadata=None, by_schedule=True)
    if end_behavior is not None and end_behavior != schedule["end_behavior"]:
        previous["end_behavior"] = schedule["end_behavior"]
        schedule["end_behavior"] = end_behavior
    if metadata is not None:
        previous["metadata"] = dict(schedule["metadata"])
        schedule["metadata"] = merge_metadata(schedule["metadata"], metadata)
    emit(ledger, "subscription_schedule.updated", schedule, previous)
    return schedule


def release(ledger: Ledger, schedule: dict) -> dict:
    _check_open(schedule, "release")
    sub = ledger.subscriptions[schedule["subscription"]]
    now = ledger.now(sub["customer"])
    schedule.update(status="released", released_at=now, released_subscription=sub["id"], subscription=None,
                    current_phase=None)
    emit(ledger, "subscription_schedule.released", schedule)
    _set_schedule_field(ledger, sub, None)
    return schedule


def cancel(ledger: Ledger, schedule: dict, *, invoice_now: bool, prorate: bool) -> dict:
    """``SubscriptionScheduleCancelParams``: ``invoice_now`` "indicates if a final invoice will be
    generated that contains any un-invoiced metered usage and new/pending proration invoice items.
    Defaults to `true`"; ``prorate`` "indicates if the cancellation should be prorated. Defaults to
    `true`" (the caller passes the defaults)."""
    _check_open(schedule, "cancel")
    sub = ledger.subscriptions[schedule["subscription"]]
    now = ledger.now(sub["customer"])
    schedule.update(status="canceled", canceled_at=now, current_phase=None)
    emit(ledger, "subscription_schedule.canceled", schedule)
    lifecycle.cancel_now(ledger, sub, invoice_now=invoice_now, prorate=prorate, details=None)
    return schedule


def at_period_end(ledger: Ledger, sub: dict, at: int) -> bool:
    """A renewal at ``at`` of a scheduled subscription: move to the next phase, or finish the
    schedule. False if the subscription was canceled (no renewal)."""
    schedule = ledger.schedules[sub["schedule"]]
    current = schedule["current_phase"]
    if at < current["end_date"]:
        return True  # inside the phase: nothing changes at this renewal
    following = next((ph for ph in schedule["phases"] if ph["start_date"] == at), None)
    if following is not None:
        previous_items = render(ledger, sub)["items"]
        changes = _changes_to(ledger, sub, _phase_items(following))
        period = period_of(ledger, sub)
        for change in changes:  # at a period boundary: no prorations (nothing of the new period is billed yet)
            _apply_at_boundary(ledger, sub, change, period)
        schedule["current_phase"] = {"start_date": following["start_date"], "end_date": following["end_date"]}
        emit(ledger, "customer.subscription.updated", sub, {"items": previous_items}, at=at, automatic=True)
        emit(ledger, "subscription_schedule.updated", schedule, {"current_phase": current}, at=at, automatic=True)
        return True
    schedule.update(status="completed", completed_at=at, current_phase=None, subscription=None)
    emit(ledger, "subscription_schedule.completed", schedule, at=at, automatic=True)
    previous = {"schedule": sub["schedule"]}
    sub["schedule"] = None
    if schedule["end_behavior"] == "cancel":
        lifecycle.end_subscription(ledger, sub, at, reason="cancellation_requested", automatic=True)
        return False
    emit(ledger, "customer.subscription.updated", sub, previous, at=at, automatic=True)
    return True


def _apply_at_boundary(ledger: Ledger, sub: dict, change: dict, period: tuple[int, int]) -> None:
    if change.get("deleted"):
        item = ledger.items[change["id"]]
        sub["item_ids"].remove(item["id"])
        item["deleted"] = True
    elif change["id"] is None:
        new_item(ledger, sub, change["price"], change["quantity"], None, *period)
    else:
        ledger.items[change["id"]]["quantity"] = change["quantity"]
