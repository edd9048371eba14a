"""``/v1/subscriptions`` and ``/v1/subscription_items``."""

from __future__ import annotations

from flask import Blueprint

from .. import params as P
from .http import check_supported, current_state, newest_first, paginate, run
from ..errors import StripeError
from ..ops import lifecycle, subscriptions
from ..ops.objects import emit, render
from ..state import Ledger

bp = Blueprint("subscriptions", __name__)

PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none")
PAYMENT_BEHAVIORS = ("allow_incomplete",)


def _proration_behavior(p: dict) -> str:
    return P.as_choice(p, "proration_behavior", PRORATION_BEHAVIORS) or "create_prorations"


def item_changes(raw_items: list, param: str = "items") -> list[dict]:
    changes = []
    for i, raw in enumerate(raw_items):
        where = f"{param}[{i}]"
        if not isinstance(raw, dict):
            raise StripeError.invalid("Invalid object", param=where)
        check_supported(raw, {"id", "price", "quantity", "deleted", "metadata"}, where)
        changes.append({"param": where, "id": raw.get("id"), "price": raw.get("price"),
                        "quantity": P.as_int(raw, "quantity", where=f"{where}[quantity]", minimum=0),
                        "deleted": P.as_bool(raw, "deleted", where=f"{where}[deleted]"),
                        "metadata": P.as_metadata(raw)})
    return changes


def _check_quantity_limit(sub_id: str, changes: list[dict]) -> None:
    # 200 quantity updates per hour per subscription (reference §6, RL-JA).
    if any(c.get("quantity") is not None for c in changes) and not current_state().quantity_limiter.allow(sub_id):
        raise StripeError.rate_limited("resource-specific")


@bp.post("/subscriptions")
def create_subscription():
    def act(ledger: Ledger, p: dict):
        if not p.get("customer"):
            raise StripeError.missing("customer")
        customer = ledger.get(ledger.customers, "customer", p["customer"], "customer")
        P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
        items = []
        for change in item_changes(p.get("items") or []):
            if change["id"] is not None or change["deleted"] is not None:
                raise StripeError.invalid("Only price and quantity can be set on new items.", param=change["param"])
            if not change["price"]:
                raise StripeError.missing(f"{change['param']}[price]")
            items.append({"price": change["price"], "metadata": change["metadata"],
                          "quantity": 1 if change["quantity"] is None else change["quantity"]})
        return render(ledger, subscriptions.create_subscription(ledger, customer, items, P.as_metadata(p)))
    return run("SubscriptionCreateParams", {"customer", "items", "metadata", "payment_behavior", "expand"}, act)


@bp.get("/subscriptions/<sid>")
def retrieve_subscription(sid):
    return run("SubscriptionRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.subscriptions, "subscription", sid)))


@bp.get("/subscriptions")
def list_subscriptions():
    def act(ledger: Ledger, p: dict):
        subs = [s for s in newest_first(ledger.subscriptions, p, {"customer": ledger.subscriptions_by_customer})
                if p.get("customer") in (None, s["customer"]) and p.get("test_clock") in (None, s["test_clock"])
                # "If no value is supplied, all subscriptions that have not been canceled are returned."
                and (p.get("status") == "all" or p.get("status") == s["status"]
                     or (p.get("status") is None and s["status"] != "canceled"))]
        return paginate(subs, p, "/v1/subscriptions", lambda obj: render(ledger, obj))
    return run("SubscriptionListParams", {"customer", "test_clock", "status", "limit", "starting_after",
                                          "ending_before", "expand"}, act)


LIFECYCLE_PARAMS = ("cancel_at", "cancel_at_period_end", "cancellation_details", "pause_collection")


def _cancel_at(p: dict):
    raw = p.get("cancel_at")
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return raw  # None, "" (clear), or one of the named values (refused by lifecycle.set_cancellation)


def _update_lifecycle(ledger: Ledger, sub: dict, p: dict) -> None:
    """``cancel_at``, ``cancel_at_period_end``, ``cancellation_details``, ``pause_collection``: one
    ``customer.subscription.updated`` (after the items' own event when both are changed)."""
    if sub["status"] == "canceled" and any(p.get(k) is not None for k in LIFECYCLE_PARAMS[:2] + LIFECYCLE_PARAMS[3:]):
        raise StripeError.state("A canceled subscription can only update its cancellation_details and metadata.",
                                param=next(k for k in LIFECYCLE_PARAMS if p.get(k) is not None))
    if sub["status"] not in subscriptions.LIVE_STATUSES + ("canceled",):
        raise StripeError.state(f"This subscription is {sub['status']} and cannot be updated.")
    previous: dict = {}
    changed = lifecycle.set_cancellation(ledger, sub, at_period_end=P.as_bool(p, "cancel_at_period_end"),
                                         cancel_at=_cancel_at(p), proration_behavior=_proration_behavior(p),
                                         details=lifecycle.cancellation_details(p.get("cancellation_details")),
                                         previous=previous)
    changed = lifecycle.set_pause(ledger, sub, p.get("pause_collection"), previous) or changed
    if changed:
        emit(ledger, "customer.subscription.updated", sub, previous)


@bp.post("/subscriptions/<sid>")
def update_subscription(sid):
    def act(ledger: Ledger, p: dict):
        sub = ledger.get(ledger.subscriptions, "subscription", sid)
        changes = item_changes(p.get("items") or [])
        P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
        _check_quantity_limit(sid, changes)
        lifecycle_change = any(p.get(k) is not None for k in LIFECYCLE_PARAMS)
        if changes or p.get("metadata") is not None or not lifecycle_change:
            subscriptions.change_items(ledger, sub, changes, proration_behavior=_proration_behavior(p),
                                       proration_date=P.as_int(p, "proration_date"), metadata=P.as_metadata(p))
        if lifecycle_change:
            _update_lifecycle(ledger, sub, p)
        return render(ledger, sub)
    return run("SubscriptionUpdateParams", {"items", "proration_behavior", "proration_date", "metadata",
                                            "payment_behavior", "expand", *LIFECYCLE_PARAMS}, act,
               lock=lambda ledger: sid)


@bp.delete("/subscriptions/<sid>")
def cancel_subscription(sid):
    def act(ledger: Ledger, p: dict):
        sub = ledger.get(ledger.subscriptions, "subscription", sid)
        return render(ledger, lifecycle.cancel_now(
            ledger, sub, invoice_now=bool(P.as_bool(p, "invoice_now")), prorate=bool(P.as_bool(p, "prorate")),
            details=lifecycle.cancellation_details(p.get("cancellation_details"))))
    return run("SubscriptionCancelParams", {"invoice_now", "prorate", "cancellation_details", "expand"}, act,
               lock=lambda ledger: sid)


@bp.post("/subscriptions/<sid>/resume")
def resume_subscription(sid):
    """stripe-python: "Initiates resumption of a paused subscription" — status ``paused`` (a trial that
    ended without a payment method), which the sandbox never reaches (no trials); ``pause_collection``
    leaves the status unchanged and is lifted with ``pause_collection=""``, not here."""
    def act(ledger: Ledger, p: dict):
        sub = ledger.get(ledger.subscriptions, "subscription", sid)
        if sub["status"] != "paused":
            raise StripeError.state(f"Only a paused subscription can be resumed; this one is {sub['status']}.",
                                    param="subscription")
        raise StripeError(500, "api_error", "unreachable: the sandbox has no paused subscriptions")
    return run("SubscriptionResumeParams", {"expand"}, act, lock=lambda ledger: sid)


@bp.get("/subscription_items/<si>")
def retrieve_subscription_item(si):
    return run("SubscriptionItemRetrieveParams", {"expand"},
               lambda ledger, p: render(ledger, ledger.get(ledger.items, "subscription item", si)))


@bp.post("/subscription_items/<si>")
def update_subscription_item(si):
    def act(ledger: Ledger, p: dict):
        item = ledger.get(ledger.items, "subscription item", si)
        if item.get("deleted"):
            raise StripeError.no_such("subscription item", si)
        sub = ledger.subscriptions[item["subscription"]]
        change = {"param": "items[0]", "id": si, "price": p.get("price"),
                  "quantity": P.as_int(p, "quantity", minimum=0), "deleted": None,
                  "metadata": P.as_metadata(p)}
        P.as_choice(p, "payment_behavior", PAYMENT_BEHAVIORS)
        _check_quantity_limit(sub["id"], [change])
        try:
            subscriptions.change_items(ledger, sub, [change], proration_behavior=_proration_behavior(p),
                                       proration_date=P.as_int(p, "proration_date"), metadata=None)
        except StripeError as exc:
            # Errors name this endpoint's params, not the internal items[0][...] form.
            if exc.param and exc.param.startswith("items[0]["):
                exc.param = exc.param[len("items[0]["):-1]
            raise
        return render(ledger, item)

    def owner(ledger: Ledger) -> str | None:
        item = ledger.items.get(si)
        return item["subscription"] if item else None
    return run("SubscriptionItemUpdateParams", {"price", "quantity", "proration_behavior", "proration_date",
                                                "metadata", "payment_behavior", "expand"}, act, lock=owner)
