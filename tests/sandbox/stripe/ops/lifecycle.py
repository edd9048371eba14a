"""Cancelling subscriptions and pausing their collection (stripe-python 16.1.0 docstrings).

- ``DELETE /v1/subscriptions/{id}`` (``Subscription.cancel``): "Cancels a customer's subscription
  immediately. The customer won't be charged again." ``prorate``: "a proration invoice item that
  credits remaining unused time until the subscription period end" (default false);
  ``invoice_now``: "a final invoice that invoices for ... new/pending proration invoice items"
  (default false); "pending prorations are removed if invoice_now and prorate are both set to
  false". After it, "the subscription is largely immutable": only ``metadata`` and
  ``cancellation_details`` can still change.
- ``cancel_at_period_end`` / ``cancel_at`` on update: the subscription stays active until then;
  "If you've set the subscription to cancel at the end of the period, any pending prorations are
  also left in place and collected at the end of the period"; ``cancel_at`` before the period end
  "will cause a proration if prorations have been enabled using proration_behavior".
  ``canceled_at`` "will reflect the time of the most recent update request".
- ``pause_collection[behavior]``: "the subscription status will be unchanged and will not be
  updated to paused"; renewal invoices are kept as drafts (``keep_as_draft``), voided (``void``)
  or marked uncollectible (``mark_uncollectible``) while it lasts; ``resumes_at``: "The time after
  which the subscription will resume collecting payments".

Sandbox readings, UNVERIFIED: the final invoice of ``invoice_now`` and the one collecting pending
items at a scheduled cancellation have ``billing_reason`` ``subscription_update`` /
``subscription_cycle``; an invoice voided or marked uncollectible because of ``pause_collection``
is finalized without applying the customer balance and at once (not an hour later); clearing a
mid-period ``cancel_at`` whose credit was already created is refused; the wording of every refusal.
"""

from __future__ import annotations

from .. import billing
from ..errors import StripeError
from .invoices import bill_now, finalize_invoice, new_invoice, pending_items, sweep, total
from .objects import emit
from .subscriptions import period_of, proration_item
from ..state import Ledger

PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")
FEEDBACK = ("customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex",
            "too_expensive", "unused")


def _credit_unused(ledger: Ledger, sub: dict, at: int) -> list[dict]:
    """Proration items crediting every item's unused time from ``at`` to the period end."""
    customer = ledger.customers[sub["customer"]]
    start, end = period_of(ledger, sub)
    created = []
    for si in sub["item_ids"]:
        item = ledger.items[si]
        if item["quantity"] and at < end:
            amount = -billing.prorated_amount(ledger.prices[item["price"]]["unit_amount"], item["quantity"],
                                              start, end, at)
            created.append(proration_item(ledger, customer, sub, item, item["price"], item["quantity"], amount,
                                          "Unused", at, end))
    for ii in created:
        emit(ledger, "invoiceitem.created", ii)
    return created


def cancellation_details(raw) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StripeError.invalid("Invalid object", param="cancellation_details")
    for key in raw:
        if key not in ("comment", "feedback"):
            raise StripeError.unknown_parameter(f"cancellation_details[{key}]")
    if raw.get("feedback") not in (None, "", *FEEDBACK):
        raise StripeError.invalid(f"Invalid cancellation_details[feedback]: must be one of {', '.join(FEEDBACK)}",
                                  param="cancellation_details[feedback]")
    return {k: (v or None) for k, v in raw.items()}


def cancel_now(ledger: Ledger, sub: dict, *, invoice_now: bool, prorate: bool, details: dict | None,
               automatic: bool = False) -> dict:
    if sub["status"] == "canceled":
        raise StripeError.state("This subscription has already been canceled.", param="subscription")
    now = ledger.now(sub["customer"])
    customer = ledger.customers[sub["customer"]]
    if prorate:
        _credit_unused(ledger, sub, now)
    if invoice_now and pending_items(ledger, customer["id"], sub["id"]):  # nothing pending: no invoice (sandbox)
        invoice = new_invoice(ledger, customer, sub, "subscription_update", now, (now, now))
        sweep(ledger, invoice, customer, sub)
        bill_now(ledger, sub, invoice)
    elif not invoice_now and not prorate:
        for ii in pending_items(ledger, customer["id"], sub["id"]):
            if ii["proration"]:
                ii["deleted"] = True
                emit(ledger, "invoiceitem.deleted", ii)
    end_subscription(ledger, sub, now, reason="cancellation_requested", details=details, automatic=automatic)
    return sub


def end_subscription(ledger: Ledger, sub: dict, at: int, *, reason: str, details: dict | None = None,
                     automatic: bool) -> None:
    sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
    sub["cancellation_details"] = {**sub["cancellation_details"], **(details or {}), "reason": reason}
    emit(ledger, "customer.subscription.deleted", sub, automatic=automatic)


def cancel_at_boundary(ledger: Ledger, sub: dict, at: int) -> None:
    """The clock reached ``cancel_at``: pending items are collected on a last invoice, no renewal."""
    customer = ledger.customers[sub["customer"]]
    if pending_items(ledger, customer["id"], sub["id"]):
        invoice = new_invoice(ledger, customer, sub, "subscription_cycle", at, (period_of(ledger, sub)[0], at))
        invoice.update(auto_advance=True, automatically_finalizes_at=at + 3600)
        sweep(ledger, invoice, customer, sub)
        total(ledger, invoice)
        sub["latest_invoice"] = invoice["id"]
        emit(ledger, "invoice.created", invoice, automatic=True)
    end_subscription(ledger, sub, at, reason="cancellation_requested", automatic=True)


def set_cancellation(ledger: Ledger, sub: dict, *, at_period_end: bool | None, cancel_at, proration_behavior: str,
                     details: dict | None, previous: dict) -> bool:
    """``cancel_at_period_end`` / ``cancel_at`` / ``cancellation_details`` of an update; True if changed."""
    if at_period_end is None and cancel_at is None and details is None:
        return False
    now = ledger.now(sub["customer"])
    start, end = period_of(ledger, sub)
    if at_period_end is not None and cancel_at is not None:
        raise StripeError.invalid("You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
                                  param="cancel_at")
    target = sub["cancel_at"]
    if at_period_end is not None:
        target = end if at_period_end else None
    elif cancel_at == "":
        target = None
    elif cancel_at is not None:
        if not isinstance(cancel_at, int):
            raise StripeError(400, "invalid_request_error", f"The sandbox does not implement cancel_at={cancel_at}",
                              code="parameter_unsupported", param="cancel_at", stored=False)
        if not now < cancel_at <= end:
            raise StripeError(400, "invalid_request_error", "The sandbox models cancel_at only within the current "
                              "period (after now, at most its end).", code="parameter_unsupported",
                              param="cancel_at", stored=False)
        target = cancel_at
    if sub.get("_cancel_credit") and target != sub["cancel_at"]:
        raise StripeError(400, "invalid_request_error", "The sandbox does not model moving or clearing a cancel_at "
                          "whose unused time was already credited.", code="parameter_unsupported",
                          param="cancel_at", stored=False)
    if target != sub["cancel_at"]:
        previous.update(cancel_at=sub["cancel_at"], cancel_at_period_end=sub["cancel_at_period_end"],
                        canceled_at=sub["canceled_at"])
        sub.update(cancel_at=target, cancel_at_period_end=target is not None and target == end,
                   canceled_at=now if target is not None else None)
        if target is not None and target < end and proration_behavior != "none":
            sub["_cancel_credit"] = True
            created = _credit_unused(ledger, sub, target)
            if proration_behavior == "always_invoice" and created:
                customer = ledger.customers[sub["customer"]]
                invoice = new_invoice(ledger, customer, sub, "subscription_update", now, (now, now))
                sweep(ledger, invoice, customer, sub)
                bill_now(ledger, sub, invoice)
    if details is not None:
        previous["cancellation_details"] = dict(sub["cancellation_details"])
        sub["cancellation_details"] = {**sub["cancellation_details"], **details}
    return True


def set_pause(ledger: Ledger, sub: dict, raw, previous: dict) -> bool:
    """``pause_collection`` of an update (``""`` resumes collection); True if changed."""
    if raw is None:
        return False
    if raw == "":
        value = None
    else:
        if not isinstance(raw, dict):
            raise StripeError.invalid("Invalid object", param="pause_collection")
        for key in raw:
            if key not in ("behavior", "resumes_at"):
                raise StripeError.unknown_parameter(f"pause_collection[{key}]")
        if raw.get("behavior") is None:
            raise StripeError.missing("pause_collection[behavior]")
        if raw["behavior"] not in PAUSE_BEHAVIORS:
            raise StripeError.invalid(f"Invalid pause_collection[behavior]: must be one of {', '.join(PAUSE_BEHAVIORS)}",
                                      param="pause_collection[behavior]")
        resumes_at = raw.get("resumes_at")
        if resumes_at is not None:
            try:
                resumes_at = int(resumes_at)
            except (TypeError, ValueError):
                raise StripeError.invalid(f"Invalid integer: {resumes_at}", param="pause_collection[resumes_at]") \
                    from None
            if resumes_at <= ledger.now(sub["customer"]):
                raise StripeError.invalid("pause_collection[resumes_at] must be in the future.",
                                          param="pause_collection[resumes_at]")
        value = {"behavior": raw["behavior"], "resumes_at": resumes_at}
    if value == sub["pause_collection"]:
        return False
    previous["pause_collection"] = sub["pause_collection"]
    sub["pause_collection"] = value
    return True


def paused_renewal(ledger: Ledger, sub: dict, invoice: dict) -> None:
    """A renewal invoice while collection is paused: left a draft, voided or marked uncollectible."""
    behavior = sub["pause_collection"]["behavior"]
    if behavior == "keep_as_draft":
        invoice.update(auto_advance=False, automatically_finalizes_at=None)
        return
    finalize_invoice(ledger, invoice, automatic=True, apply_balance=False)
    now = ledger.now(sub["customer"])
    if invoice["status"] != "open":
        return
    if behavior == "void":
        invoice.update(status="void", amount_remaining=0)
        invoice["status_transitions"]["voided_at"] = now
        emit(ledger, "invoice.voided", invoice, automatic=True)
    else:
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = now
        emit(ledger, "invoice.marked_uncollectible", invoice, automatic=True)


def resume_collection(ledger: Ledger, sub: dict, at: int) -> None:
    """``pause_collection[resumes_at]`` reached: collection resumes."""
    previous = {"pause_collection": sub["pause_collection"]}
    sub["pause_collection"] = None
    emit(ledger, "customer.subscription.updated", sub, previous, at=at, automatic=True)
