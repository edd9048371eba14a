"""Test helpers for the Chargebee half: a site driven through chargebee-python.

Everything goes through the official SDK (``cb``); only the sandbox's own
knobs (site settings, test cards, locks) use the ``/_sandbox/chargebee`` control API.
"""

from __future__ import annotations

from datetime import datetime, timezone

import httpx

# The seat price most tests use: a monthly per_unit plan price in USD.
SEAT = "seat-USD-monthly"


def ts(*parts, tz=timezone.utc) -> int:
    """Unix seconds for a wall-clock time (UTC unless ``tz``)."""
    return int(datetime(*parts, tzinfo=tz).timestamp())


class Site:
    def __init__(self, sandbox, cb):
        self.sandbox = sandbox
        self.cb = cb

    # sandbox controls -----------------------------------------------------------
    def control(self, path: str, body: dict | None = None, method: str = "post") -> dict:
        response = httpx.request(method.upper(), f"{self.sandbox.url}/_sandbox/chargebee/{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def settings(self, **changes) -> dict:
        return self.control("settings", changes)

    # time machine (through the SDK) ---------------------------------------------
    def start(self, *when) -> None:
        self.cb.TimeMachine.start_afresh("delorean", {"genesis_time": ts(*when)})

    def travel(self, *when) -> None:
        self.cb.TimeMachine.travel_forward("delorean", {"destination_time": ts(*when)})

    # catalog ---------------------------------------------------------------------
    def price(self, price_id: str, item_type: str, amount: int, *, model: str = "per_unit",
              period: int | None = 1, unit: str | None = "month", currency: str = "USD") -> str:
        item_id = f"item-{price_id}"
        self.cb.Item.create({"id": item_id, "name": price_id.replace("-", " ").title(), "type": item_type,
                             "item_family_id": "seats"})
        params = {"id": price_id, "name": price_id, "item_id": item_id, "pricing_model": model,
                  "price": amount, "currency_code": currency}
        if period is not None:
            params.update(period=period, period_unit=unit)
        self.cb.ItemPrice.create(params)
        return price_id

    def customer(self, customer_id: str, card: str | None = "4111111111111111") -> str:
        params = {"id": customer_id, "first_name": "Ada", "email": f"{customer_id}@example.com"}
        if card:
            params["card"] = {"number": card, "expiry_month": 12, "expiry_year": 2030}
        self.cb.Customer.create(params)
        return customer_id

    def subscribe(self, customer_id: str, sub_id: str, items: list[tuple[str, int | None]], **extra):
        subscription_items = [{"item_price_id": price} | ({"quantity": qty} if qty is not None else {})
                              for price, qty in items]
        return self.cb.Subscription.create_with_items(customer_id, {"id": sub_id, "subscription_items": subscription_items,
                                                                    **extra})

    def change(self, sub_id: str, items: list[tuple[str, int | None]], *, prorate: bool | None,
               invoice_immediately: bool | None, headers: dict | None = None, **extra):
        params = {"subscription_items": [{"item_price_id": price} | ({"quantity": qty} if qty is not None else {})
                                         for price, qty in items]}
        if prorate is not None:
            params["prorate"] = prorate
        if invoice_immediately is not None:
            params["invoice_immediately"] = invoice_immediately
        params.update(extra)
        return self.cb.Subscription.update_for_items(sub_id, params, headers)

    # reading back ----------------------------------------------------------------
    def invoices(self, sub_id: str) -> list:
        found = self.cb.Invoice.list({"subscription_id": {"is": sub_id}, "limit": 100, "sort_by": {"asc": "date"}})
        return [entry.invoice for entry in found.list]

    def credit_notes(self, sub_id: str) -> list:
        found = self.cb.CreditNote.list({"subscription_id": {"is": sub_id}, "limit": 100, "sort_by": {"asc": "date"}})
        return [entry.credit_note for entry in found.list]

    def unbilled(self, sub_id: str) -> list:
        found = self.cb.UnbilledCharge.list({"subscription_id": {"is": sub_id}, "limit": 100})
        return [entry.unbilled_charge for entry in found.list]

    def event_types(self, after: int | None = None) -> list[str]:
        params = {"limit": 100, "sort_by": {"asc": "occurred_at"}}
        if after is not None:
            params["occurred_at"] = {"after": after}
        return [entry.event.event_type for entry in self.cb.Event.list(params).list]


def lines(document) -> list[tuple[str, int, int]]:
    """``(entity_id, quantity, amount)`` per line of an invoice or credit note."""
    return [(line.entity_id, line.quantity, line.amount) for line in document.line_items]
