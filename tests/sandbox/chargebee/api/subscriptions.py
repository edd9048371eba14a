"""``/api/v2`` subscriptions (create for items, retrieve, list, update for items, scheduled changes, cancel,
pause, resume, reactivate) and the update estimate."""

from __future__ import annotations

from flask import Blueprint

from .. import params as p
from .http import (candidates, current_state, listing, match_string, read, sorted_by,
                                              subscription_body, write)
from ..ops import estimates, lifecycle, subscriptions
from ..ops.render import render_customer, render_subscription

bp = Blueprint("subscriptions", __name__)


@bp.post("/customers/<customer_id>/subscription_for_items")
def create_subscription(customer_id):
    state = current_state()

    def operation(prm):
        sub, outcome = subscriptions.create_with_items(state, customer_id, prm)
        return subscription_body(sub, outcome), 200
    return write(operation, declared="Subscription.CreateWithItemsParams")


@bp.get("/subscriptions/<sub_id>")
def retrieve_subscription(sub_id):
    state = current_state()
    return read(lambda prm: subscription_body(subscriptions.get_subscription(state, sub_id), refresh=False),
                declared=None)


@bp.get("/subscriptions")
def list_subscriptions():
    state = current_state()

    def operation(prm):
        subs = [s for s in candidates(prm, state.subscriptions, {"customer_id": state.subscriptions_by_customer})
                if match_string(prm, "customer_id", s["customer_id"])]
        return listing(sorted_by(subs, prm, "created_at"), "subscription", prm,
                       lambda s: render_subscription(state, s),
                       lambda s: {"customer": render_customer(state, state.customers[s["customer_id"]],
                                                              refresh=False)})
    return read(operation, declared="Subscription.ListParams")


@bp.post("/subscriptions/<sub_id>/update_for_items")
def update_for_items(sub_id):
    state = current_state()

    def operation(prm):
        sub, outcome = subscriptions.update_for_items(state, sub_id, prm)
        return subscription_body(sub, outcome), 200
    return write(operation, declared="Subscription.UpdateForItemsParams",
                 lock_key=f"chargebee:subscription:{sub_id}")


@bp.post("/estimates/update_subscription_for_items")
def estimate_update(**_):
    state = current_state()

    def operation(prm):
        sub_fields = prm.get("subscription") if isinstance(prm.get("subscription"), dict) else {}
        sub_id = p.required(p.string(sub_fields, "id", wire="subscription[id]"), "subscription[id]")
        return {"estimate": estimates.estimate_update_for_items(state, sub_id, prm)}, 200
    # Estimates change nothing: the change is run, described, then rolled back.
    return write(operation, declared="Estimate.UpdateSubscriptionForItemsParams", idempotent=False, dry_run=True)


@bp.get("/subscriptions/<sub_id>/retrieve_with_scheduled_changes")
def retrieve_with_scheduled_changes(sub_id):
    state = current_state()
    return read(lambda prm: lifecycle.with_scheduled_changes(state, sub_id), declared=None)


@bp.post("/subscriptions/<sub_id>/remove_scheduled_changes")
def remove_scheduled_changes(sub_id):
    state = current_state()
    return write(lambda prm: (subscription_body(lifecycle.remove_scheduled_changes(state, sub_id)), 200),
                 declared=None, lock_key=f"chargebee:subscription:{sub_id}")


def _lifecycle_route(name: str, operation, declared: str):
    def handler(sub_id):
        state = current_state()

        def run(prm):
            sub, outcome = operation(state, sub_id, prm)
            return subscription_body(sub, outcome), 200
        return write(run, declared=declared, lock_key=f"chargebee:subscription:{sub_id}")
    handler.__name__ = name
    bp.post(f"/subscriptions/<sub_id>/{name}")(handler)


for _name, _operation, _declared in (("cancel_for_items", lifecycle.cancel_for_items, "Subscription.CancelForItemsParams"),
                                     ("pause", lifecycle.pause, "Subscription.PauseParams"),
                                     ("resume", lifecycle.resume, "Subscription.ResumeParams"),
                                     ("reactivate", lifecycle.reactivate, "Subscription.ReactivateParams")):
    _lifecycle_route(_name, _operation, _declared)
