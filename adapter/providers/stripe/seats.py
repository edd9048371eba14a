"""Seat sync on Stripe: read a subscription into a ``SubscriptionState``, send one ``CallSpec``.

Every write carries the caller's deterministic idempotency key; Stripe replays
the first response for a key and refuses the same key with other parameters
(docs/stripe.md#idempotency). The SDK's own retries stay off (``adapter/retry.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import stripe

from adapter.billing.policy import Catalog, price_roles
from adapter.providers.normalize import ACCOUNT_METADATA_KEY
from adapter.providers.stripe.normalize import lifecycle, subscription_account
from adapter.providers.translate import CallSpec, SubscriptionState

if TYPE_CHECKING:
    from stripe import RequestOptions
    from stripe.params import SubscriptionItemUpdateParams, SubscriptionUpdateParams


def _request_id(obj: Any) -> str | None:
    response = getattr(obj, "last_response", None)
    return getattr(response, "request_id", None)


class StripeSeats:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient):
        self.client = client

    def read(self, subscription: str, catalog: Catalog) -> SubscriptionState:
        sub = self.client.v1.subscriptions.retrieve(subscription).to_dict()
        seat_prices, base_prices, addon_prices = price_roles(catalog, "stripe")
        seat = base = None
        addons: dict[str, str] = {}
        for item in sub["items"]["data"]:
            price = item["price"]["id"]
            if price in seat_prices:
                seat = item
            elif price in base_prices:
                base = item
            elif price in addon_prices:
                addons[price] = item["id"]
        anchor = seat or base or (sub["items"]["data"][0] if sub["items"]["data"] else None)
        if anchor is None:
            raise stripe.InvalidRequestError(f"subscription {subscription} has no items", "items",
                                             code="resource_missing", http_status=404)
        now = None
        if sub.get("test_clock"):
            clock = self.client.v1.test_helpers.test_clocks.retrieve(_id(sub["test_clock"])).to_dict()
            now = int(clock["frozen_time"]) * 1_000_000
        return SubscriptionState(
            provider="stripe", subscription=sub["id"], customer=_id(sub["customer"]), status=sub["status"],
            period_start_us=int(anchor["current_period_start"]) * 1_000_000,
            period_end_us=int(anchor["current_period_end"]) * 1_000_000,
            quantity=seat["quantity"] if seat else None, seat_item=seat["id"] if seat else None,
            seat_price=seat["price"]["id"] if seat else None, base_item=base["id"] if base else None,
            base_price=base["price"]["id"] if base else None, addon_items=addons, now_us=now,
            lifecycle=lifecycle(sub),
            owner=subscription_account(sub),
        )

    def clocks(self) -> Callable[[str, dict | None], int | None]:
        """The test clock's ``frozen_time`` of each subscription on one (test mode), else None (Stripe's clock
        is ours). The mirrored object names its clock (``test_clock``, null on a customer on the real clock),
        so a subscription without one costs no call; each clock is retrieved once per reader."""
        frozen: dict[str, int] = {}

        def read(subscription: str, mirrored: dict | None) -> int | None:
            try:
                sub = mirrored if mirrored is not None and "test_clock" in mirrored else \
                    self.client.v1.subscriptions.retrieve(subscription).to_dict()
                clock = _id(sub["test_clock"]) if sub.get("test_clock") else None
                if clock is not None and clock not in frozen:
                    found = self.client.v1.test_helpers.test_clocks.retrieve(clock).to_dict()
                    frozen[clock] = int(found["frozen_time"]) * 1_000_000
            except stripe.InvalidRequestError as exc:
                if exc.http_status != 404:
                    raise
                return None  # deleted (a test clock goes after 7 days, with its subscriptions): nothing bills on it
            return None if clock is None else frozen[clock]

        return read

    def claim(self, subscription: str, account: str, idempotency_key: str) -> None:
        # Stripe merges metadata keys on update: the product's own keys stay.
        self.client.v1.subscriptions.update(subscription, {"metadata": {ACCOUNT_METADATA_KEY: account}},
                                            {"idempotency_key": idempotency_key})

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict]:
        options: RequestOptions = {"idempotency_key": idempotency_key}
        # The parameters were built for this operation by providers/stripe/calls.py, in the SDK's shape.
        if spec.operation == "stripe.subscription_items.update":
            item = self.client.v1.subscription_items.update(
                spec.target, cast("SubscriptionItemUpdateParams", spec.params), options)
            return _request_id(item), item.to_dict()
        if spec.operation == "stripe.subscriptions.update":
            sub = self.client.v1.subscriptions.update(spec.target, cast("SubscriptionUpdateParams", spec.params),
                                                      options)
            return _request_id(sub), {"id": sub.id, "status": sub.status}
        if spec.operation == "stripe.invoice_pending_over_threshold":
            return self._invoice_over_threshold(spec.params, idempotency_key)
        raise ValueError(f"unknown Stripe operation {spec.operation!r}")

    def pending_total(self, customer: str, subscription: str) -> int:
        """The sum of the subscription's pending invoice items (credits are negative)."""
        items = self.client.v1.invoice_items.list({"customer": customer, "pending": True, "limit": 100})
        total = 0
        for item in items.auto_paging_iter():
            data = item.to_dict()
            parent = (data.get("parent") or {}).get("subscription_details") or {}
            if parent.get("subscription") == subscription:
                total += int(data["amount"])
        return total

    def _invoice_over_threshold(self, params: dict, key: str) -> tuple[str | None, dict]:
        """Invoice the pending prorations once they surpass the threshold; replay-safe.

        The invoice is created with the call's key in its metadata. A replay
        after a crash finds that draft (its items are no longer pending, so the
        sum would say "nothing to do") and finishes it instead of stranding it.
        """
        customer, subscription, threshold = params["customer"], params["subscription"], int(params["threshold"])
        draft = None
        for invoice in self.client.v1.invoices.list({"customer": customer, "subscription": subscription,
                                                      "status": "draft", "limit": 100}).auto_paging_iter():
            if (invoice.to_dict().get("metadata") or {}).get("seatsync_key") == key:
                draft = invoice
        total = None
        if draft is None:
            total = self.pending_total(customer, subscription)
            if total <= threshold:
                return None, {"invoiced": False, "pending_total": total, "threshold": threshold}
            draft = self.client.v1.invoices.create(
                {"customer": customer, "subscription": subscription, "pending_invoice_items_behavior": "include",
                 "metadata": {"seatsync_key": key}},
                {"idempotency_key": f"{key}:create"})
        invoice = self.client.v1.invoices.finalize_invoice(draft.id, {}, {"idempotency_key": f"{key}:finalize"})
        paid = True
        try:
            invoice = self.client.v1.invoices.pay(invoice.id, {}, {"idempotency_key": f"{key}:pay"})
        except stripe.CardError:
            # The invoice exists and is open; dunning and the payment_failed
            # callback take it from here. Not a sync failure.
            paid = False
        return _request_id(invoice), {"invoiced": True, "invoice": invoice.id, "pending_total": total,
                                      "threshold": threshold, "paid": paid}


def _id(value: Any) -> str:
    return value["id"] if isinstance(value, dict) else value
