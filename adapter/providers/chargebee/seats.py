"""Seat sync on Chargebee: read a subscription into a ``SubscriptionState``, send one ``CallSpec``.

Writes carry ``chargebee-idempotency-key`` (≤ 100 chars, 30-minute window;
docs/chargebee.md#idempotency). ``prorate`` and ``invoice_immediately`` always
come explicitly from the policy (``adapter/translate.py``), never from site
defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from chargebee import Chargebee
from chargebee.api_error import APIError

from adapter.billing.policy import Catalog, price_roles
from adapter.providers.chargebee.normalize import lifecycle, subscription_account
from adapter.providers.errors import classify
from adapter.providers.normalize import ACCOUNT_METADATA_KEY
from adapter.providers.translate import CallSpec, SubscriptionState


class ChargebeeSeats:
    name = "chargebee"

    def __init__(self, client: Chargebee, *, backdating: bool = False):
        self.client = client
        # The site allows backdated changes (a site setting; CHARGEBEE_BACKDATING): seat changes then
        # carry changes_scheduled_at, so each is billed from its own instant (adapter/seat_plan.py).
        self.backdating = backdating
        self._has_time_machine: bool | None = None

    def site_now_us(self) -> int | None:
        """A test site's time-machine clock, which renewals and prorations follow; None on live sites."""
        if self._has_time_machine is False:
            return None
        try:
            machine = self.client.TimeMachine.retrieve("delorean").time_machine
        except APIError as exc:
            if classify(exc).transient:
                raise  # a 429/5xx says nothing about the site: retry the read, do not forget the clock
            self._has_time_machine = False
            return None
        self._has_time_machine = True
        destination = getattr(machine, "destination_time", None) or getattr(machine, "genesis_time", None)
        return int(destination) * 1_000_000 if destination else None

    def clocks(self) -> Callable[[str, dict | None], int | None]:
        """The site's time-machine clock for every subscription (one machine per test site), read once per
        reader; None on live sites."""
        known: list[int | None] = []

        def read(subscription: str, mirrored: dict | None) -> int | None:
            if not known:
                known.append(self.site_now_us())
            return known[0]

        return read

    def read(self, subscription: str, catalog: Catalog) -> SubscriptionState:
        sub = dict(self.client.Subscription.retrieve(subscription).subscription.raw_data)
        seat_prices, base_prices, addon_prices = price_roles(catalog, "chargebee")
        seat = base = None
        addons: dict[str, str] = {}
        for item in sub.get("subscription_items") or []:
            price = item["item_price_id"]
            if price in seat_prices:
                seat = item
            elif price in base_prices:
                base = item
            elif price in addon_prices:
                addons[price] = price
        return SubscriptionState(
            provider="chargebee", subscription=sub["id"], customer=sub["customer_id"], status=sub["status"],
            # A cancelled subscription may carry no current term: nothing is planned against it then.
            period_start_us=int(sub.get("current_term_start") or 0) * 1_000_000,
            period_end_us=int(sub.get("current_term_end") or 0) * 1_000_000,
            quantity=seat.get("quantity") if seat else None, seat_item=seat["item_price_id"] if seat else None,
            seat_price=seat["item_price_id"] if seat else None,
            base_item=base["item_price_id"] if base else None, base_price=base["item_price_id"] if base else None,
            addon_items=addons, now_us=self.site_now_us(), lifecycle=lifecycle(sub),
            scheduled_change=bool(sub.get("has_scheduled_changes")),
            owner=subscription_account(sub),
        )

    def claim(self, subscription: str, account: str, idempotency_key: str) -> None:
        # Chargebee replaces meta_data whole (SDK: UpdateForItemsParams.meta_data): merge into what is there.
        sub = dict(self.client.Subscription.retrieve(subscription).subscription.raw_data)
        meta = sub.get("meta_data")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = None
        merged = {**(meta if isinstance(meta, dict) else {}), ACCOUNT_METADATA_KEY: account}
        self.client.Subscription.update_for_items(subscription, {"meta_data": json.dumps(merged)},
                                                  {"chargebee-idempotency-key": idempotency_key})

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict]:
        headers = {"chargebee-idempotency-key": idempotency_key}
        if spec.operation == "chargebee.subscriptions.update_for_items":
            response = self.client.Subscription.update_for_items(spec.target, spec.params, headers)
            return None, {"subscription": dict(response.subscription.raw_data),
                          "replayed": bool(getattr(response, "is_idempotency_replayed", False))}
        if spec.operation == "chargebee.invoice_unbilled_over_threshold":
            return self._invoice_over_threshold(spec.params, headers)
        raise ValueError(f"unknown Chargebee operation {spec.operation!r}")

    def unbilled_total(self, subscription: str) -> int:
        total, offset = 0, None
        while True:
            # No is_voided filter: chargebee-python declares it a plain boolean (UnbilledCharge.ListParams)
            # defaulting to false, so voided charges are not listed; they are skipped below too, so the
            # sum does not depend on how a live site reads the default.
            params = {"subscription_id": {"is": subscription}, "limit": 100}
            if offset:
                params["offset"] = offset
            page = self.client.UnbilledCharge.list(params)
            for entry in page.list:
                charge = entry.unbilled_charge.raw_data
                if not charge.get("is_voided"):
                    total += int(charge["amount"]) - int(charge.get("discount_amount") or 0)
            offset = page.next_offset
            if not offset:
                return total

    def _invoice_over_threshold(self, params: dict, headers: dict) -> tuple[str | None, dict]:
        # Replay-safe by construction: once invoiced, the charges are no longer unbilled.
        subscription, threshold = params["subscription_id"], int(params["threshold"])
        total = self.unbilled_total(subscription)
        if total <= threshold:
            return None, {"invoiced": False, "unbilled_total": total, "threshold": threshold}
        response = self.client.UnbilledCharge.invoice_unbilled_charges({"subscription_id": subscription}, headers)
        invoices = [dict(invoice.raw_data)["id"] for invoice in (response.invoices or [])]
        return None, {"invoiced": True, "invoices": invoices, "unbilled_total": total, "threshold": threshold}
