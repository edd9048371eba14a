"""What seatsync reads of each Stripe object a webhook carries (``stripe/normalize.py``, ``events.py``),
with types as the SDK's resources declare them (``stripe.Subscription``, ``stripe.Invoice``, …)."""

from __future__ import annotations

from adapter.providers.shapes import BOOL, DECIMAL, ID, INT, METADATA, STR, either, walk

PRICE = either(STR, {"!id": STR, "unit_amount_decimal": DECIMAL})
PERIOD = {"start": INT, "end": INT}
PRICING = {"price_details": {"price": ID}, "unit_amount_decimal": DECIMAL}
LINE_DETAILS = {"subscription": ID, "subscription_item": STR, "proration": BOOL, "invoice_item": STR}
LINE = {"!id": STR, "!amount": INT, "quantity": INT, "description": STR, "subscription": ID, "period": PERIOD,
        "parent": {"subscription_item_details": LINE_DETAILS, "invoice_item_details": LINE_DETAILS},
        "pricing": PRICING}

SHAPES = {
    "customer": {"!id": STR, "email": STR, "name": STR, "deleted": BOOL, "metadata": METADATA},
    "subscription": {
        "!id": STR, "customer": ID, "metadata": METADATA, "status": STR, "currency": STR, "created": INT,
        "latest_invoice": ID,
        "items": {"data": [{"!id": STR, "price": PRICE, "quantity": INT, "current_period_start": INT,
                            "current_period_end": INT}], "has_more": BOOL},
    },
    "invoice": {
        "!id": STR, "customer": ID, "subscription": ID, "status": STR, "currency": STR, "subtotal": INT,
        "total": INT, "amount_due": INT, "amount_paid": INT, "period_start": INT, "period_end": INT,
        "created": INT, "billing_reason": STR, "deleted": BOOL, "attempt_count": INT, "next_payment_attempt": INT,
        "parent": {"subscription_details": {"subscription": ID, "metadata": METADATA}},
        "lines": {"data": [LINE], "has_more": BOOL},
    },
    "credit_note": {"!id": STR, "customer": ID, "invoice": ID, "type": STR, "status": STR, "reason": STR,
                    "currency": STR, "total": INT, "created": INT},
    "charge": {"!id": STR, "customer": ID, "invoice": ID, "status": STR, "amount": INT, "currency": STR,
               "created": INT},
    "invoiceitem": {"!id": STR, "customer": ID, "subscription": ID, "description": STR, "period": PERIOD,
                    "quantity": INT, "amount": INT, "proration": BOOL, "invoice": ID, "deleted": BOOL,
                    "pricing": PRICING,
                    "parent": {"subscription_details": {"subscription": ID, "subscription_item": STR}}},
}


def event_errors(event: dict) -> list[dict]:
    """The shape errors of a Stripe event's ``data.object`` (objects seatsync does not read: none)."""
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict):
        return []
    shape = SHAPES.get(str(obj.get("object")))
    errors: list[dict] = []
    if shape is not None:
        walk(obj, shape, "/data/object", errors)
    return errors
