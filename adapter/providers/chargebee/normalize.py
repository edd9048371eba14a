"""Chargebee objects → the mirror's normalized rows (docs/chargebee.md#event-payload). Pure.

``resource_version`` (milliseconds, "updated with a new timestamp for every change") is the ordering
version; resources without one (unbilled charges) fall back to ``updated_at`` in milliseconds.
Chargebee has no past_due status and no proration flag on line items.
"""

from __future__ import annotations

from adapter.providers.base import Lifecycle
from adapter.providers.normalize import account_in, decimal_text, raw_json

PROVIDER = "chargebee"


def version(obj: dict, given: int | None) -> int | None:
    if given is not None:
        return given
    if obj.get("resource_version") is not None:
        return int(obj["resource_version"])
    if obj.get("updated_at") is not None:
        return int(obj["updated_at"]) * 1000
    return None


def customer_row(obj: dict) -> dict:
    parts = [obj.get("first_name"), obj.get("last_name")]
    name = " ".join(p for p in parts if p) or obj.get("company")
    return {"provider": PROVIDER, "id": obj["id"], "email": obj.get("email"), "name": name,
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def subscription_account(obj: dict) -> str | None:
    return account_in(obj.get("meta_data"))


def subscription_item_rows(obj: dict) -> list[dict]:
    rows = []
    for item in obj.get("subscription_items") or []:
        unit = item.get("unit_price_in_decimal")
        rows.append({
            # Chargebee subscription items have no id of their own; one item price per subscription.
            "provider": PROVIDER, "id": f"{obj['id']}:{item['item_price_id']}", "subscription": obj["id"],
            "price": item["item_price_id"], "quantity": item.get("quantity"),
            "unit_amount_decimal": decimal_text(unit if unit is not None else item.get("unit_price")),
            "current_period_start": item.get("current_term_start", obj.get("current_term_start")),
            "current_period_end": item.get("current_term_end", obj.get("current_term_end")),
            "raw": raw_json(item),
        })
    return rows


def subscription_row(obj: dict) -> dict:
    # Chargebee has no past_due status (future, in_trial, active, non_renewing, paused, cancelled);
    # a subscription with due invoices is the nearest equivalent, dated by ``due_since``. The count
    # alone is not kept: it is derived from the invoices and may change without a new
    # resource_version, so the invoices' own rows are the state to trust.
    due = obj.get("due_invoices_count") or 0
    return {"provider": PROVIDER, "id": obj["id"], "customer": obj.get("customer_id"),
            "account": subscription_account(obj), "status": obj.get("status"),
            "currency": obj.get("currency_code"),
            "current_period_start": obj.get("current_term_start"), "current_period_end": obj.get("current_term_end"),
            "past_due_since": str(obj["due_since"]) if due > 0 and obj.get("due_since") else None,
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def subscription_created(obj: dict) -> int | None:
    return obj.get("created_at")


def _line_row(line: dict, invoice: dict, index: int) -> dict:
    unit = line.get("unit_amount_in_decimal")
    return {
        "provider": PROVIDER, "id": line.get("id") or f"{invoice['id']}:{index}", "invoice": invoice["id"],
        "subscription": line.get("subscription_id") or invoice.get("subscription_id"),
        "subscription_item": None, "price": line.get("entity_id"), "description": line.get("description"),
        "period_start": line.get("date_from"), "period_end": line.get("date_to"), "quantity": line.get("quantity"),
        "unit_amount_decimal": decimal_text(unit if unit is not None else line.get("unit_amount")),
        # No proration flag on Chargebee line items (docs/chargebee.md#credit-notes): unknown, not false.
        "amount": line.get("amount", 0), "proration": None, "pending_charge": None, "raw": raw_json(line),
    }


def invoice_line_rows(obj: dict, lines: list[dict] | None = None) -> list[dict]:
    source = lines if lines is not None else (obj.get("line_items") or [])
    return [_line_row(line, obj, index) for index, line in enumerate(source)]


def invoice_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "status": obj.get("status"),
            "currency": obj.get("currency_code"), "subtotal": obj.get("sub_total"), "total": obj.get("total"),
            "amount_due": obj.get("amount_due"), "amount_paid": obj.get("amount_paid"),
            # Chargebee invoices have no period of their own; their lines carry date_from/date_to.
            "period_start": None, "period_end": None, "created": obj.get("date"),
            "billing_reason": None, "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def lines_complete(obj: dict) -> bool:
    return True  # an invoice embeds all its line items


def credit_note_row(obj: dict) -> dict:
    return {"provider": PROVIDER, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "invoice": obj.get("reference_invoice_id"),
            "type": obj.get("type"), "status": obj.get("status"),
            "reason": obj.get("create_reason_code") or obj.get("reason_code"), "currency": obj.get("currency_code"),
            "total": obj.get("total"), "created": obj.get("date"), "deleted": int(bool(obj.get("deleted"))),
            "raw": raw_json(obj)}


def payment_row(obj: dict) -> dict:
    linked = obj.get("linked_invoices") or []
    return {"provider": PROVIDER, "id": obj["id"], "kind": "transaction", "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "invoice": linked[0].get("invoice_id") if linked else None,
            "status": obj.get("status"), "amount": obj.get("amount"), "currency": obj.get("currency_code"),
            "created": obj.get("date"), "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def pending_charge_row(obj: dict, *, invoice: str | None = None) -> dict:
    unit = obj.get("unit_amount_in_decimal")
    return {"provider": PROVIDER, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "subscription_item": None, "price": obj.get("entity_id"),
            "description": obj.get("description"), "period_start": obj.get("date_from"),
            "period_end": obj.get("date_to"), "quantity": obj.get("quantity"),
            "unit_amount_decimal": decimal_text(unit if unit is not None else obj.get("unit_amount")),
            "amount": obj.get("amount"), "proration": None, "invoice": invoice,
            "voided": int(bool(obj.get("is_voided"))), "deleted": int(bool(obj.get("deleted"))),
            "raw": raw_json(obj)}


def _us(seconds) -> int | None:
    return int(seconds) * 1_000_000 if seconds is not None else None


def lifecycle(obj: dict) -> Lifecycle:
    """A subscription's lifecycle (chargebee-python ``Subscription``): ``cancelled`` at ``cancelled_at``;
    ``non_renewing``: a cancellation scheduled at ``cancelled_at``; ``paused`` since ``pause_date``
    until ``resume_date``; ``active`` with a ``pause_date``: a pause scheduled then."""
    status = obj.get("status")
    if status == "cancelled":
        return Lifecycle("cancelled", _us(obj.get("cancelled_at")))
    if status == "non_renewing":
        return Lifecycle("cancelling", _us(obj.get("cancelled_at")))
    if status == "paused":
        return Lifecycle("paused", _us(obj.get("pause_date")), _us(obj.get("resume_date")))
    if obj.get("pause_date") is not None:
        return Lifecycle("pausing", _us(obj["pause_date"]), _us(obj.get("resume_date")))
    return Lifecycle("active")
