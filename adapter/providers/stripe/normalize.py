"""Stripe objects → the mirror's normalized rows (docs/stripe.md#event-object). Pure.

Stripe objects carry no version: the caller passes the event's ``created`` (whole seconds), and an
event that is not strictly newer than the stored state makes the worker re-fetch the object
(docs/stripe.md#webhook-delivery: no ordering guarantee, same-second events are common).
"""

from __future__ import annotations

from adapter.providers.base import Lifecycle
from adapter.providers.normalize import account_in, decimal_text, flag, get, object_id, raw_json

PROVIDER = "stripe"


def version(obj: dict, given: int | None) -> int | None:
    return given


def customer_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "email": obj.get("email"), "name": obj.get("name"),
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def subscription_account(obj: dict) -> str | None:
    return account_in(obj.get("metadata"))


def subscription_item_rows(obj: dict) -> list[dict]:
    rows = []
    for item in get(obj, "items", "data") or []:
        price = item.get("price")
        rows.append({
            "provider": PROVIDER, "id": item["id"], "subscription": obj["id"], "price": object_id(price),
            "quantity": item.get("quantity"),
            "unit_amount_decimal": decimal_text(price.get("unit_amount_decimal")) if isinstance(price, dict) else None,
            "current_period_start": item.get("current_period_start"),
            "current_period_end": item.get("current_period_end"),
            "raw": raw_json(item),
        })
    return rows


def subscription_row(obj: dict) -> dict:
    items = get(obj, "items", "data") or []
    starts = [i["current_period_start"] for i in items if i.get("current_period_start") is not None]
    ends = [i["current_period_end"] for i in items if i.get("current_period_end") is not None]
    status = obj.get("status")
    # One past-due episode per unpaid latest invoice: the key that makes ``subscription.past_due``
    # notify once per episode.
    past_due_since = object_id(obj.get("latest_invoice")) if status == "past_due" else None
    return {"provider": PROVIDER, "id": obj["id"], "customer": object_id(obj.get("customer")),
            "account": subscription_account(obj), "status": status, "currency": obj.get("currency"),
            "current_period_start": min(starts) if starts else None,
            "current_period_end": max(ends) if ends else None,
            "past_due_since": past_due_since, "deleted": 0, "raw": raw_json(obj)}


def subscription_created(obj: dict) -> int | None:
    return obj.get("created")


def _line_row(line: dict, invoice_id: str) -> dict:
    details = get(line, "parent", "subscription_item_details") or get(line, "parent", "invoice_item_details") or {}
    return {
        "provider": PROVIDER, "id": line["id"], "invoice": invoice_id,
        "subscription": object_id(details.get("subscription")) or object_id(line.get("subscription")),
        "subscription_item": details.get("subscription_item"),
        "price": object_id(get(line, "pricing", "price_details", "price")),
        "description": line.get("description"),
        "period_start": get(line, "period", "start"), "period_end": get(line, "period", "end"),
        "quantity": line.get("quantity"),
        "unit_amount_decimal": decimal_text(get(line, "pricing", "unit_amount_decimal")),
        "amount": line["amount"], "proration": flag(details.get("proration")),
        "pending_charge": details.get("invoice_item"), "raw": raw_json(line),
    }


def invoice_line_rows(obj: dict, lines: list[dict] | None = None) -> list[dict]:
    source = lines if lines is not None else (get(obj, "lines", "data") or [])
    return [_line_row(line, obj["id"]) for line in source]


def invoice_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "customer": object_id(obj.get("customer")),
            "subscription": object_id(get(obj, "parent", "subscription_details", "subscription"))
            or object_id(obj.get("subscription")),
            "status": obj.get("status"), "currency": obj.get("currency"), "subtotal": obj.get("subtotal"),
            "total": obj.get("total"), "amount_due": obj.get("amount_due"), "amount_paid": obj.get("amount_paid"),
            "period_start": obj.get("period_start"), "period_end": obj.get("period_end"),
            "created": obj.get("created"), "billing_reason": obj.get("billing_reason"),
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def lines_complete(obj: dict) -> bool:
    """Whether the invoice embeds all its lines (else fetch them: ``lines.has_more``)."""
    return not get(obj, "lines", "has_more")


def credit_note_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "customer": object_id(obj.get("customer")),
            "subscription": None, "invoice": object_id(obj.get("invoice")), "type": obj.get("type"),
            "status": obj.get("status"), "reason": obj.get("reason"), "currency": obj.get("currency"),
            "total": obj.get("total"), "created": obj.get("created"), "deleted": 0, "raw": raw_json(obj)}


def payment_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "kind": obj.get("object", "charge"),
            "customer": object_id(obj.get("customer")), "subscription": None,
            # Charge.invoice left the API in basil; kept when an older-version payload has it.
            "invoice": object_id(obj.get("invoice")), "status": obj.get("status"), "amount": obj.get("amount"),
            "currency": obj.get("currency"), "created": obj.get("created"), "deleted": 0, "raw": raw_json(obj)}


def pending_charge_row(obj: dict, *, invoice: str | None = None) -> dict:
    details = get(obj, "parent", "subscription_details") or {}
    return {"provider": PROVIDER, "id": obj["id"], "customer": object_id(obj.get("customer")),
            "subscription": object_id(details.get("subscription")) or object_id(obj.get("subscription")),
            "subscription_item": details.get("subscription_item"),
            "price": object_id(get(obj, "pricing", "price_details", "price")),
            "description": obj.get("description"),
            "period_start": get(obj, "period", "start"), "period_end": get(obj, "period", "end"),
            "quantity": obj.get("quantity"),
            "unit_amount_decimal": decimal_text(get(obj, "pricing", "unit_amount_decimal")),
            "amount": obj.get("amount"), "proration": flag(obj.get("proration")),
            "invoice": object_id(obj.get("invoice")) or invoice, "voided": 0,
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def _us(seconds) -> int | None:
    return int(seconds) * 1_000_000 if seconds is not None else None


def lifecycle(obj: dict) -> Lifecycle:
    """A subscription's lifecycle (stripe-python ``Subscription``): ``canceled`` (or
    ``incomplete_expired``) ended at ``ended_at``; ``cancel_at`` set: ends then; ``pause_collection``
    set: paused (the status stays ``active``, renewals are drafted, voided or uncollectible; Stripe
    records no pause start) until ``resumes_at``; status ``paused`` (a trial ended without a payment
    method) is paused too."""
    status = obj.get("status")
    if status in ("canceled", "incomplete_expired"):
        return Lifecycle("cancelled", _us(obj.get("ended_at") or obj.get("canceled_at")))
    pause = obj.get("pause_collection")
    if status == "paused" or isinstance(pause, dict):
        return Lifecycle("paused", None, _us((pause or {}).get("resumes_at")))
    if obj.get("cancel_at") is not None:
        return Lifecycle("cancelling", _us(obj["cancel_at"]))
    return Lifecycle("active")
