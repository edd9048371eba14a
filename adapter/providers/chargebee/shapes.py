"""What seatsync reads of each Chargebee resource an event's ``content`` carries (``chargebee/normalize.py``,
``events.py``), with types as chargebee-python's models declare them (``Subscription``, ``Invoice``, …)."""

from __future__ import annotations

from adapter.providers.chargebee.events import KINDS
from adapter.providers.shapes import BOOL, DECIMAL, INT, METADATA, STR, walk

VERSIONED = {"resource_version": INT, "updated_at": INT, "deleted": BOOL}
LINE = {"id": STR, "subscription_id": STR, "entity_id": STR, "description": STR, "date_from": INT, "date_to": INT,
        "quantity": INT, "unit_amount_in_decimal": DECIMAL, "unit_amount": INT, "amount": INT}

SHAPES = {
    "customer": {"!id": STR, "email": STR, "first_name": STR, "last_name": STR, "company": STR, **VERSIONED},
    "subscription": {
        "!id": STR, "customer_id": STR, "meta_data": METADATA, "status": STR, "currency_code": STR,
        "current_term_start": INT, "current_term_end": INT, "due_invoices_count": INT, "due_since": INT,
        "created_at": INT, **VERSIONED,
        "subscription_items": [{"!item_price_id": STR, "quantity": INT, "unit_price_in_decimal": DECIMAL,
                                "unit_price": INT, "current_term_start": INT, "current_term_end": INT}],
    },
    "invoice": {"!id": STR, "customer_id": STR, "subscription_id": STR, "status": STR, "currency_code": STR,
                "sub_total": INT, "total": INT, "amount_due": INT, "amount_paid": INT, "date": INT, "due_date": INT,
                **VERSIONED, "line_items": [LINE]},
    "credit_note": {"!id": STR, "customer_id": STR, "subscription_id": STR, "reference_invoice_id": STR,
                    "type": STR, "status": STR, "create_reason_code": STR, "reason_code": STR,
                    "currency_code": STR, "total": INT, "date": INT, **VERSIONED, "line_items": [LINE]},
    "payment": {"!id": STR, "customer_id": STR, "subscription_id": STR, "linked_invoices": [{"invoice_id": STR}],
                "status": STR, "amount": INT, "currency_code": STR, "date": INT, **VERSIONED},
    "pending_charge": {"!id": STR, "customer_id": STR, "subscription_id": STR, "entity_id": STR,
                       "description": STR, "date_from": INT, "date_to": INT, "quantity": INT,
                       "unit_amount_in_decimal": DECIMAL, "unit_amount": INT, "amount": INT, "is_voided": BOOL,
                       **VERSIONED},
}


def event_errors(event: dict) -> list[dict]:
    """The shape errors of the resources in a Chargebee event's ``content`` (singular or plural keys)."""
    content = event.get("content")
    if not isinstance(content, dict):
        return []
    errors: list[dict] = []
    for key, kind in KINDS.items():
        value = content.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            walk(value, [SHAPES[kind]], f"/content/{key}", errors)
        else:
            walk(value, SHAPES[kind], f"/content/{key}", errors)
    return errors
