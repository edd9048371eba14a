"""``/v1/subscription_schedules``: create from a subscription, retrieve, update, release, cancel
(``tests.sandbox.stripe.ops.schedules``; what is modelled and refused is documented there)."""

from __future__ import annotations

from flask import Blueprint, request

from .. import params as P
from .http import run
from ..errors import StripeError
from ..ops import schedules
from ..ops.objects import render
from ..state import Ledger

bp = Blueprint("schedules", __name__)


def _schedule(ledger: Ledger, schedule_id: str) -> dict:
    return ledger.get(ledger.schedules, "subscription_schedule", schedule_id)


def _owner(schedule_id: str):
    def lock(ledger: Ledger) -> str | None:
        schedule = ledger.schedules.get(schedule_id)
        return (schedule["subscription"] or schedule["released_subscription"]) if schedule else None
    return lock


@bp.post("/subscription_schedules")
def create_schedule():
    def act(ledger: Ledger, p: dict):
        if not p.get("from_subscription"):
            # A schedule for a new subscription (customer + phases + start_date) is not modelled.
            raise schedules.unsupported("from_subscription", " (required: the sandbox only makes schedules "
                                        "from an existing subscription)")
        sub = ledger.get(ledger.subscriptions, "subscription", p["from_subscription"], "from_subscription")
        return render(ledger, schedules.from_subscription(ledger, sub))
    # "When using this parameter, other parameters (such as phase values) cannot be set."
    return run("SubscriptionScheduleCreateParams", {"from_subscription", "expand"}, act,
               lock=lambda ledger: request.form.get("from_subscription") or None)


@bp.get("/subscription_schedules/<sid>")
def retrieve_schedule(sid):
    return run("SubscriptionScheduleRetrieveParams", {"expand"}, lambda ledger, p: render(ledger, _schedule(ledger, sid)))


@bp.post("/subscription_schedules/<sid>")
def update_schedule(sid):
    def act(ledger: Ledger, p: dict):
        schedule = _schedule(ledger, sid)
        end_behavior = p.get("end_behavior")
        if end_behavior in ("none", "renew"):
            raise schedules.unsupported("end_behavior", f" ({end_behavior})")
        P.as_choice(p, "end_behavior", schedules.END_BEHAVIORS)
        phases = p.get("phases")
        if phases is not None and not isinstance(phases, list):
            raise StripeError.invalid("Invalid array", param="phases")
        behavior = P.as_choice(p, "proration_behavior", schedules.PRORATION_BEHAVIORS) or "create_prorations"
        return render(ledger, schedules.update(ledger, schedule, phases=phases, end_behavior=end_behavior,
                                               metadata=P.as_metadata(p), proration_behavior=behavior))
    return run("SubscriptionScheduleUpdateParams", {"phases", "end_behavior", "metadata", "proration_behavior",
                                                    "expand"}, act, lock=_owner(sid))


@bp.post("/subscription_schedules/<sid>/release")
def release_schedule(sid):
    return run("SubscriptionScheduleReleaseParams", {"expand"},
               lambda ledger, p: render(ledger, schedules.release(ledger, _schedule(ledger, sid))), lock=_owner(sid))


@bp.post("/subscription_schedules/<sid>/cancel")
def cancel_schedule(sid):
    def act(ledger: Ledger, p: dict):
        invoice_now, prorate = P.as_bool(p, "invoice_now"), P.as_bool(p, "prorate")
        return render(ledger, schedules.cancel(ledger, _schedule(ledger, sid),
                                               invoice_now=invoice_now is not False, prorate=prorate is not False))
    return run("SubscriptionScheduleCancelParams", {"invoice_now", "prorate", "expand"}, act, lock=_owner(sid))
