"""Stripe objects and the billing operations on them (no HTTP, no threads).

The ``Ledger`` is plain data plus methods, so ``create_preview`` can run an
update on a deep copy and throw it away. Every state change appends Stripe-shaped
events to ``ledger.events``; the HTTP layer forwards new ones to the webhook
dispatcher. Objects are stored in the shape stripe-python 16.1.0 expects for
API version 2026-10-28.endive and rendered by ``render``.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from tests.sandbox.stripe import billing
from tests.sandbox.stripe.errors import StripeError

API_VERSION = "2026-10-28.endive"
USD_MINIMUM_CHARGE = 50  # minor units; smaller amounts due go to the balance (reference §1 Credits)

# Stripe's documented test payment methods that attach but fail when charged,
# plus the plain decline cards. Anything else named pm_card_* succeeds.
FAILING_PAYMENT_METHODS = frozenset({
    "pm_card_chargeCustomerFail",
    "pm_card_chargeDeclined",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_chargeDeclinedProcessingError",
})

LIVE_STATUSES = ("active", "past_due")


def merge_metadata(current: dict, update: dict) -> dict:
    """Stripe merges metadata keys; an empty value unsets a key; ``metadata=""`` clears all."""
    if not update:
        return {}
    merged = {**current, **update}
    return {k: v for k, v in merged.items() if v != ""}


class Ledger:
    def __init__(self, start_time: int):
        self.default_time = start_time
        self.customers: dict[str, dict] = {}
        self.products: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.invoiceitems: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.clocks: dict[str, dict] = {}
        self.balance_transactions: dict[str, dict] = {}
        self.events: list[dict] = []
        self._counters: dict[str, int] = {}
        self.invoice_number = 0
        self.request: dict = {"id": None, "idempotency_key": None}
        self.scratch = False

    # ------------------------------------------------------------- helpers

    def new_id(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        # Objects made for a preview must never share an id with real ones.
        return f"{prefix}_{'tmp' if self.scratch else 'sbx'}{n:010d}"

    def now(self, customer_id: str | None = None) -> int:
        customer = self.customers.get(customer_id) if customer_id else None
        clock_id = customer and customer.get("test_clock")
        return self.clocks[clock_id]["frozen_time"] if clock_id else self.default_time

    def emit(self, type_: str, obj: dict, previous: dict | None = None, *, at: int | None = None,
             automatic: bool = False) -> dict:
        data: dict[str, Any] = {"object": self.render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self.new_id("evt"), "object": "event", "api_version": API_VERSION,
            "created": at if at is not None else self.now(obj.get("customer") if obj.get("object") != "customer" else obj["id"]),
            "data": data, "livemode": False, "pending_webhooks": 0, "type": type_,
            # Renewals and clock-driven work have no request (reference §5 Event object).
            "request": {"id": None, "idempotency_key": None} if automatic else dict(self.request),
        }
        self.events.append(event)
        return event

    def get(self, table: dict, kind: str, object_id: Any, param: str = "id") -> dict:
        if not isinstance(object_id, str) or object_id not in table:
            raise StripeError.no_such(kind, str(object_id), param)
        return table[object_id]

    # ------------------------------------------------------------ rendering

    def render(self, obj: dict) -> dict:
        kind = obj.get("object")
        out = copy.deepcopy(obj)
        if kind == "subscription":
            out.pop("item_ids", None)
            out["items"] = {"object": "list", "data": [self.render(self.items[i]) for i in obj["item_ids"]],
                            "has_more": False, "total_count": len(obj["item_ids"]),
                            "url": f"/v1/subscription_items?subscription={obj['id']}"}
        elif kind == "subscription_item":
            out["price"] = copy.deepcopy(self.prices[obj["price"]])
        elif kind == "invoice":
            lines = out.pop("lines")
            out["lines"] = {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                            "url": f"/v1/invoices/{obj['id']}/lines"}
        return out

    def lookup(self, object_id: str) -> dict | None:
        for table in (self.customers, self.products, self.prices, self.subscriptions, self.items,
                      self.invoiceitems, self.invoices, self.clocks, self.balance_transactions):
            if object_id in table:
                return table[object_id]
        return None

    # ---------------------------------------------------------- test clocks

    def create_clock(self, frozen_time: int, name: str | None) -> dict:
        clock = {"id": self.new_id("clock"), "object": "test_helpers.test_clock", "created": frozen_time,
                 "deletes_after": frozen_time + 7 * billing.DAY, "frozen_time": frozen_time,
                 "livemode": False, "name": name, "status": "ready", "status_details": {}}
        self.clocks[clock["id"]] = clock
        self.emit("test_helpers.test_clock.created", clock, at=clock["frozen_time"])
        return clock

    def advance_clock(self, clock: dict, to: int) -> dict:
        if to <= clock["frozen_time"]:
            raise StripeError.state("The frozen_time must be after the current frozen time of the test clock.",
                                    param="frozen_time")
        subs = [s for s in self.subscriptions.values() if s["test_clock"] == clock["id"] and s["status"] in LIVE_STATUSES]
        if subs:
            limit = min(billing.add_interval(clock["frozen_time"], *self._interval(s), 2) for s in subs)
            reason = "two intervals in the future from the shortest subscription in this test clock"
        else:
            limit = billing.add_interval(clock["frozen_time"], "year", 1, 2)
            reason = "two years in the future"
        if to > limit:
            raise StripeError.state(f"Cannot advance the test clock more than {reason}.", param="frozen_time")
        self.emit("test_helpers.test_clock.advancing", clock | {"status": "advancing"}, at=clock["frozen_time"],
                  automatic=True)
        self._run_clock(clock, to)
        clock["frozen_time"] = to
        self.emit("test_helpers.test_clock.ready", clock, at=to, automatic=True)
        return clock

    def advance_default_clock(self, to: int) -> int:
        """Move the clock of customers without a test clock (control API only)."""
        if to <= self.default_time:
            raise StripeError.state("The frozen_time must be after the current default time.", param="frozen_time")
        pseudo = {"id": None, "frozen_time": self.default_time}
        self._run_clock(pseudo, to)
        self.default_time = to
        return to

    def _interval(self, sub: dict) -> tuple[str, int]:
        recurring = self.prices[self.items[sub["item_ids"][0]]["price"]]["recurring"]
        return recurring["interval"], recurring["interval_count"]

    def _run_clock(self, clock: dict, to: int) -> None:
        """Process renewals and invoice auto-finalization in time order up to ``to``."""
        while True:
            due: list[tuple[int, int, str, dict]] = []
            for sub in self.subscriptions.values():
                if sub["test_clock"] == clock["id"] and sub["status"] in LIVE_STATUSES:
                    end = self.items[sub["item_ids"][0]]["current_period_end"]
                    if end <= to:
                        due.append((end, 0, "renew", sub))
            for invoice in self.invoices.values():
                if (invoice["test_clock"] == clock["id"] and invoice["status"] == "draft"
                        and invoice["auto_advance"] and invoice["automatically_finalizes_at"] <= to):
                    due.append((invoice["automatically_finalizes_at"], 1, "finalize", invoice))
            if not due:
                return
            at, _, action, obj = min(due, key=lambda d: (d[0], d[1], d[3]["id"]))
            clock["frozen_time"] = at
            if action == "renew":
                self._renew(obj, at)
            else:
                self.finalize_invoice(obj, automatic=True)
                if obj["status"] == "open":
                    self.attempt_payment(obj, automatic=True)

    # ------------------------------------------------------------ customers

    def create_customer(self, *, email=None, name=None, description=None, metadata=None, test_clock=None,
                        payment_method=None, balance=0) -> dict:
        if test_clock is not None:
            self.get(self.clocks, "test clock", test_clock, "test_clock")
        customer_id = self.new_id("cus")
        created = self.clocks[test_clock]["frozen_time"] if test_clock else self.default_time
        customer = {"id": customer_id, "object": "customer", "address": None, "balance": balance,
                    "created": created, "currency": "usd", "default_source": None, "delinquent": False,
                    "description": description, "discount": None, "email": email,
                    "invoice_prefix": customer_id[-8:].upper(),
                    "invoice_settings": {"custom_fields": None, "default_payment_method": payment_method,
                                         "footer": None, "rendering_options": None},
                    "livemode": False, "metadata": metadata or {}, "name": name, "phone": None,
                    "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": test_clock}
        self.customers[customer_id] = customer
        self.emit("customer.created", customer)
        return customer

    def update_customer(self, customer: dict, *, email=None, name=None, description=None, metadata=None,
                        payment_method=None) -> dict:
        previous = {}
        for key, value in (("email", email), ("name", name), ("description", description)):
            if value is not None and customer[key] != value:
                previous[key] = customer[key]
                customer[key] = value
        if metadata is not None:
            previous["metadata"] = dict(customer["metadata"])
            customer["metadata"] = merge_metadata(customer["metadata"], metadata)
        if payment_method is not None:
            previous["invoice_settings"] = copy.deepcopy(customer["invoice_settings"])
            customer["invoice_settings"]["default_payment_method"] = payment_method or None
        self.emit("customer.updated", customer, previous)
        return customer

    def add_balance_transaction(self, customer: dict, amount: int, type_: str, *, description=None,
                                invoice=None) -> dict:
        customer["balance"] += amount
        txn = {"id": self.new_id("cbtxn"), "object": "customer_balance_transaction", "amount": amount,
               "checkout_session": None, "created": self.now(customer["id"]), "credit_note": None,
               "currency": customer["currency"], "customer": customer["id"], "customer_account": None,
               "description": description, "ending_balance": customer["balance"], "invoice": invoice,
               "livemode": False, "metadata": {}, "type": type_}
        self.balance_transactions[txn["id"]] = txn
        return txn

    # ------------------------------------------------------- catalog objects

    def create_product(self, *, name, product_id=None, description=None, metadata=None, active=True) -> dict:
        product_id = product_id or self.new_id("prod")
        if product_id in self.products:
            raise StripeError.state("Product already exists.", param="id")
        product = {"id": product_id, "object": "product", "active": active, "created": self.default_time,
                   "default_price": None, "description": description, "images": [], "livemode": False,
                   "marketing_features": [], "metadata": metadata or {}, "name": name, "package_dimensions": None,
                   "shippable": None, "statement_descriptor": None, "tax_code": None, "type": "service",
                   "unit_label": None, "updated": self.default_time, "url": None}
        self.products[product_id] = product
        self.emit("product.created", product, at=self.default_time)
        return product

    def create_price(self, *, product, unit_amount, currency, interval, interval_count=1, nickname=None,
                     lookup_key=None, metadata=None) -> dict:
        self.get(self.products, "product", product, "product")
        price = {"id": self.new_id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
                 "created": self.default_time, "currency": currency, "custom_unit_amount": None,
                 "livemode": False, "lookup_key": lookup_key, "metadata": metadata or {}, "nickname": nickname,
                 "product": product,
                 "recurring": {"interval": interval, "interval_count": interval_count, "meter": None,
                               "usage_type": "licensed"},
                 "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
                 "type": "recurring", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount)}
        self.prices[price["id"]] = price
        self.emit("price.created", price, at=self.default_time)
        return price

    # -------------------------------------------------------- subscriptions

    def create_subscription(self, customer: dict, items: list[dict], metadata: dict | None) -> dict:
        """``items``: [{"price": id, "quantity": int, "metadata": {}}]."""
        if not items:
            raise StripeError.missing("items")
        prices = [self.get(self.prices, "price", item["price"], f"items[{i}][price]") for i, item in enumerate(items)]
        intervals = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}
        if len(intervals) > 1:
            # Mixed intervals need flexible billing mode with per-item periods; not modelled.
            raise StripeError.state("The sandbox requires all prices on a subscription to share one billing interval.",
                                    param="items")
        currencies = {p["currency"] for p in prices}
        if len(currencies) > 1:
            raise StripeError.state("All prices on a subscription must have the same currency.", param="items")
        now = self.now(customer["id"])
        interval, count = intervals.pop()
        end = billing.add_interval(now, interval, count, 1)
        sub_id = self.new_id("sub")
        sub = {"id": sub_id, "object": "subscription", "application": None, "automatic_tax": {"enabled": False,
               "liability": None, "disabled_reason": None}, "billing_cycle_anchor": now,
               "billing_cycle_anchor_config": None, "billing_mode": {"type": "flexible", "flexible": None,
               "updated_at": None}, "billing_thresholds": None, "cancel_at": None, "cancel_at_period_end": False,
               "canceled_at": None, "cancellation_details": {"comment": None, "feedback": None, "reason": None},
               "collection_method": "charge_automatically", "created": now, "currency": currencies.pop(),
               "customer": customer["id"], "days_until_due": None, "default_payment_method": None,
               "description": None, "discounts": [], "ended_at": None, "invoice_settings": {"issuer": {"type": "self"}},
               "item_ids": [], "latest_invoice": None, "livemode": False, "metadata": metadata or {},
               "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
               "start_date": now, "status": None, "test_clock": customer["test_clock"], "trial_end": None,
               "trial_start": None}
        self.subscriptions[sub_id] = sub
        for item in items:
            self._new_item(sub, item["price"], item["quantity"], item.get("metadata"), now, end)
        invoice = self._new_invoice(customer, sub, "subscription_create", now, (now, now))
        for si in sub["item_ids"]:
            invoice["lines"].append(self._cycle_line(invoice, self.items[si], now, end))
        self._total(invoice)
        sub["latest_invoice"] = invoice["id"]
        self.emit("invoice.created", invoice)
        self.finalize_invoice(invoice)
        if invoice["status"] == "open":
            self.attempt_payment(invoice)
        sub["status"] = "active" if invoice["status"] == "paid" else "incomplete"
        self.emit("customer.subscription.created", sub)
        return sub

    def _new_item(self, sub: dict, price_id: str, quantity: int, metadata: dict | None, start: int, end: int) -> dict:
        item = {"id": self.new_id("si"), "object": "subscription_item", "billing_thresholds": None,
                "created": self.now(sub["customer"]), "current_period_end": end, "current_period_start": start,
                "discounts": [], "metadata": metadata or {}, "price": price_id, "quantity": quantity,
                "subscription": sub["id"], "tax_rates": []}
        self.items[item["id"]] = item
        sub["item_ids"].append(item["id"])
        return item

    def change_items(self, sub: dict, changes: list[dict], *, proration_behavior: str,
                     proration_date: int | None, metadata: dict | None) -> dict:
        """Apply item changes: [{"id"?, "price"?, "quantity"?, "deleted"?, "metadata"?, "param"}].

        Each changed item yields a credit for the old (price, quantity) over the
        unused time and a debit for the new one over the remaining time, each
        rounded on its own (reference §1).
        """
        if sub["status"] not in LIVE_STATUSES:
            raise StripeError.state(f"This subscription is {sub['status']} and cannot be updated.", param="items")
        first = self.items[sub["item_ids"][0]]
        start, end = first["current_period_start"], first["current_period_end"]
        now = self.now(sub["customer"])
        at = now if proration_date is None else proration_date
        if proration_date is not None and not start <= proration_date <= end:
            raise StripeError.state("proration_date must be within the current billing period of the subscription.",
                                    param="proration_date")
        previous_items = self.render(sub)["items"]
        plan: list[tuple[dict | None, tuple[str, int] | None, tuple[str, int] | None, dict]] = []
        seen: set[str] = set()
        for change in changes:
            param = change["param"]
            if change.get("id") is not None:
                item = self.items.get(change["id"])
                if item is None or item["subscription"] != sub["id"] or item.get("deleted"):
                    raise StripeError.no_such("subscription item", change["id"], f"{param}[id]")
                if item["id"] in seen:
                    raise StripeError.state("An item can only be changed once per request.", param=f"{param}[id]")
                seen.add(item["id"])
                old = (item["price"], item["quantity"])
                if change.get("deleted"):
                    plan.append((item, old, None, change))
                    continue
                price = change.get("price") or item["price"]
                # "When changing a subscription item's price, quantity is set to 1 unless
                # a quantity parameter is provided" (reference §1).
                if change.get("quantity") is not None:
                    quantity = change["quantity"]
                elif change.get("price") and change["price"] != item["price"]:
                    quantity = 1
                else:
                    quantity = item["quantity"]
                plan.append((item, old, (price, quantity), change))
            else:
                if not change.get("price"):
                    raise StripeError.missing(f"{param}[price]")
                plan.append((None, None, (change["price"], change.get("quantity", 1)), change))
        resulting: dict[str, str] = {i: self.items[i]["price"] for i in sub["item_ids"]}
        for n, (item, old, new, change) in enumerate(plan):
            key = item["id"] if item else f"new{n}"
            if new is None:
                resulting.pop(key, None)
                continue
            self.get(self.prices, "price", new[0], f"{change['param']}[price]")
            resulting[key] = new[0]
        if not resulting:
            raise StripeError.state("A subscription must keep at least one item.", param="items")
        intervals = {self._price_interval(price_id) for price_id in resulting.values()}
        if len(intervals) > 1:
            # Mixed intervals need flexible billing with per-item periods; not modelled.
            raise StripeError.state("The sandbox requires all prices on a subscription to share one billing "
                                    "interval.", param="items")
        new_interval = intervals.pop()
        customer = self.customers[sub["customer"]]
        if new_interval != self._interval(sub):
            return self._change_interval(sub, customer, plan, new_interval, proration_behavior, at, previous_items,
                                         metadata)

        created_items: list[dict] = []
        changed = False
        for item, old, new, change in plan:
            if old == new and change.get("metadata") is None:
                continue
            if item is None:
                item = self._new_item(sub, new[0], new[1], change.get("metadata"), start, end)
            if change.get("metadata") is not None:
                item["metadata"] = change["metadata"]
            if old == new:
                changed = True
                continue
            changed = True
            if proration_behavior != "none":
                credit, debit = billing.proration_pair(
                    (self.prices[old[0]]["unit_amount"], old[1]) if old else None,
                    (self.prices[new[0]]["unit_amount"], new[1]) if new else None, start, end, at)
                for kind, amount, side in (("Unused", credit, old), ("Remaining", debit, new)):
                    if side is not None and side[1]:
                        created_items.append(self._proration_item(customer, sub, item, side[0], side[1],
                                                                  amount, kind, at, end))
            if new is None:
                sub["item_ids"].remove(item["id"])
                item["deleted"] = True
            else:
                item["price"], item["quantity"] = new
        previous = {"items": previous_items}
        if metadata is not None:
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"] = merge_metadata(sub["metadata"], metadata)
            changed = True
        if not changed:
            return sub
        for ii in created_items:
            self.emit("invoiceitem.created", ii)
        self.emit("customer.subscription.updated", sub, previous)
        if proration_behavior == "always_invoice" and created_items:
            invoice = self._new_invoice(customer, sub, "subscription_update", now, (now, now))
            self._sweep(invoice, customer, sub)
            self._total(invoice)
            sub["latest_invoice"] = invoice["id"]
            self.emit("invoice.created", invoice)
            self.finalize_invoice(invoice)
            if invoice["status"] == "open":
                self.attempt_payment(invoice)
        return sub

    def _price_interval(self, price_id: str) -> tuple[str, int]:
        recurring = self.prices[price_id]["recurring"]
        return recurring["interval"], recurring["interval_count"]

    def _change_interval(self, sub: dict, customer: dict, plan: list, interval: tuple[str, int],
                         proration_behavior: str, at: int, previous_items: dict, metadata: dict | None) -> dict:
        """Monthly↔yearly: the new price is billed at once for a new period starting
        now and the billing date moves; unused old time is credited unless
        ``proration_behavior=none`` (reference §1 proration_behavior, §4 CHG)."""
        first = self.items[sub["item_ids"][0]]
        end = first["current_period_end"]
        created_items = []
        if proration_behavior != "none":
            for si in sub["item_ids"]:
                item = self.items[si]
                if item["quantity"]:
                    amount = -billing.prorated_amount(self.prices[item["price"]]["unit_amount"], item["quantity"],
                                                      item["current_period_start"], end, at)
                    created_items.append(self._proration_item(customer, sub, item, item["price"], item["quantity"],
                                                              amount, "Unused", at, end))
        new_end = billing.add_interval(at, interval[0], interval[1], 1)
        for item, old, new, change in plan:
            if item is None:
                item = self._new_item(sub, new[0], new[1], change.get("metadata"), at, new_end)
            elif new is None:
                sub["item_ids"].remove(item["id"])
                item["deleted"] = True
                continue
            else:
                item["price"], item["quantity"] = new
            if change.get("metadata") is not None:
                item["metadata"] = change["metadata"]
        for si in sub["item_ids"]:
            self.items[si]["current_period_start"], self.items[si]["current_period_end"] = at, new_end
        previous = {"items": previous_items, "billing_cycle_anchor": sub["billing_cycle_anchor"]}
        sub["billing_cycle_anchor"] = at
        if metadata is not None:
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"] = merge_metadata(sub["metadata"], metadata)
        for ii in created_items:
            self.emit("invoiceitem.created", ii)
        self.emit("customer.subscription.updated", sub, previous)
        invoice = self._new_invoice(customer, sub, "subscription_update", at, (at, at))
        self._sweep(invoice, customer, sub)
        for si in sub["item_ids"]:
            invoice["lines"].append(self._cycle_line(invoice, self.items[si], at, new_end))
        self._total(invoice)
        sub["latest_invoice"] = invoice["id"]
        self.emit("invoice.created", invoice)
        self.finalize_invoice(invoice)
        if invoice["status"] == "open":
            self.attempt_payment(invoice)
        return sub

    def _proration_item(self, customer: dict, sub: dict, item: dict, price_id: str, quantity: int, amount: int,
                        kind: str, at: int, end: int) -> dict:
        price = self.prices[price_id]
        product = self.products[price["product"]]
        label = billing.quantity_label(quantity, product["name"])
        ii = {"id": self.new_id("ii"), "object": "invoiceitem", "amount": amount, "currency": price["currency"],
              "customer": customer["id"], "customer_account": None, "date": self.now(customer["id"]),
              "description": f"{kind} time on {label} after {billing.format_date(at)}",
              "discountable": False, "discounts": [], "invoice": None, "livemode": False, "metadata": {},
              "net_amount": amount,
              "parent": {"type": "subscription_details",
                         "subscription_details": {"subscription": sub["id"], "subscription_item": item["id"]}},
              "period": {"start": at, "end": end},
              "pricing": {"type": "price_details", "price_details": {"price": price_id, "product": product["id"]},
                          "unit_amount_decimal": str(Decimal(amount) / quantity)},
              "proration": True, "proration_details": {"credited_items": None, "discount_amounts": []},
              "quantity": quantity, "quantity_decimal": str(quantity), "tax_rates": [],
              "test_clock": customer["test_clock"]}
        self.invoiceitems[ii["id"]] = ii
        return ii

    def _renew(self, sub: dict, at: int) -> None:
        """At a period end: bill the quantity in force for the next period, sweep
        pending items, leave a draft that auto-finalizes an hour later (reference §5, §8)."""
        customer = self.customers[sub["customer"]]
        first = self.items[sub["item_ids"][0]]
        old_start = first["current_period_start"]
        interval, count = self._interval(sub)
        # Periods step from the anchor, not from the previous (clamped) end: a Jan 31 anchor
        # bills Feb 28/29, Mar 31, Apr 30 (reference stripe.md "billing_cycle_anchor").
        new_end = billing.period_containing(sub["billing_cycle_anchor"], interval, count, at)[1]
        previous_items = self.render(sub)["items"]
        invoice = self._new_invoice(customer, sub, "subscription_cycle", at, (old_start, at))
        invoice["auto_advance"] = True
        invoice["automatically_finalizes_at"] = at + 3600
        # Swept pending items come first, then next period's lines, as on Stripe's invoices.
        self._sweep(invoice, customer, sub)
        for si in sub["item_ids"]:
            item = self.items[si]
            item["current_period_start"], item["current_period_end"] = at, new_end
            invoice["lines"].append(self._cycle_line(invoice, item, at, new_end))
        self._total(invoice)
        sub["latest_invoice"] = invoice["id"]
        self.emit("customer.subscription.updated", sub, {"items": previous_items}, automatic=True)
        self.emit("invoice.created", invoice, automatic=True)

    # ------------------------------------------------------------- invoices

    def _new_invoice(self, customer: dict, sub: dict | None, reason: str, at: int, period: tuple[int, int]) -> dict:
        invoice = {"id": self.new_id("in"), "object": "invoice", "account_country": "US", "account_name": "Sandbox",
                   "account_tax_ids": None, "amount_due": 0, "amount_overpaid": 0, "amount_paid": 0,
                   "amount_remaining": 0, "amount_shipping": 0, "application": None, "attempt_count": 0,
                   "attempted": False, "auto_advance": False,
                   "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None,
                                     "provider": None, "status": None},
                   "automatically_finalizes_at": None, "billing_reason": reason,
                   "collection_method": "charge_automatically", "created": at, "currency": customer["currency"],
                   "custom_fields": None, "customer": customer["id"], "customer_account": None,
                   "customer_email": customer["email"], "customer_name": customer["name"],
                   "default_payment_method": None, "default_tax_rates": [], "description": None, "discounts": [],
                   "due_date": None, "effective_at": None, "ending_balance": None, "footer": None,
                   "from_invoice": None, "hosted_invoice_url": None, "invoice_pdf": None,
                   "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
                   "lines": [], "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": None,
                   "on_behalf_of": None,
                   "parent": ({"type": "subscription_details", "quote_details": None,
                               "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"],
                                                        "subscription_proration_date": None}} if sub else None),
                   "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                        "payment_method_types": None},
                   "period_end": period[1], "period_start": period[0], "post_payment_credit_notes_amount": 0,
                   "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
                   "shipping_cost": None, "shipping_details": None, "starting_balance": 0,
                   "statement_descriptor": None, "status": "draft",
                   "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                                          "paid_at": None, "voided_at": None},
                   "subtotal": 0, "subtotal_excluding_tax": 0, "test_clock": customer["test_clock"],
                   "threshold_reason": None, "total": 0, "total_discount_amounts": [], "total_excluding_tax": 0,
                   "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": at}
        self.invoices[invoice["id"]] = invoice
        return invoice

    def _cycle_line(self, invoice: dict, item: dict, start: int, end: int) -> dict:
        price = self.prices[item["price"]]
        product = self.products[price["product"]]
        amount = price["unit_amount"] * item["quantity"]
        interval = price["recurring"]["interval"]
        return {"id": self.new_id("il"), "object": "line_item", "amount": amount, "currency": price["currency"],
                "description": f"{item['quantity']} × {product['name']} (at "
                               f"{billing.money(price['unit_amount'], price['currency'])} / {interval})",
                "discount_amounts": [], "discountable": True, "discounts": [], "invoice": invoice["id"],
                "livemode": False, "metadata": dict(item["metadata"]),
                "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                           "subscription_item_details": {"invoice_item": None, "proration": False,
                                                         "proration_details": {"credited_items": None},
                                                         "subscription": item["subscription"],
                                                         "subscription_item": item["id"]}},
                "period": {"start": start, "end": end}, "pretax_credit_amounts": [],
                "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": product["id"]},
                            "unit_amount_decimal": str(price["unit_amount"])},
                "quantity": item["quantity"], "quantity_decimal": str(item["quantity"]), "subtotal": amount,
                "taxes": []}

    def _item_line(self, invoice: dict, ii: dict) -> dict:
        details = ii["parent"]["subscription_details"] if ii["parent"] else None
        if details:
            parent = {"type": "subscription_item_details", "invoice_item_details": None,
                      "subscription_item_details": {"invoice_item": ii["id"], "proration": ii["proration"],
                                                    "proration_details": {"credited_items": None},
                                                    "subscription": details["subscription"],
                                                    "subscription_item": details["subscription_item"]}}
        else:
            parent = {"type": "invoice_item_details", "subscription_item_details": None,
                      "invoice_item_details": {"invoice_item": ii["id"], "proration": ii["proration"],
                                               "proration_details": {"credited_items": None},
                                               "subscription": None}}
        return {"id": self.new_id("il"), "object": "line_item", "amount": ii["amount"], "currency": ii["currency"],
                "description": ii["description"], "discount_amounts": [], "discountable": ii["discountable"],
                "discounts": [], "invoice": invoice["id"], "livemode": False, "metadata": dict(ii["metadata"]),
                "parent": parent, "period": dict(ii["period"]), "pretax_credit_amounts": [],
                "pricing": copy.deepcopy(ii["pricing"]), "quantity": ii["quantity"],
                "quantity_decimal": ii["quantity_decimal"], "subtotal": ii["amount"], "taxes": []}

    def pending_items(self, customer_id: str, subscription_id: str | None = None) -> list[dict]:
        out = []
        for ii in self.invoiceitems.values():
            if ii["customer"] != customer_id or ii["invoice"] is not None:
                continue
            owner = ii["parent"]["subscription_details"]["subscription"] if ii["parent"] else None
            if subscription_id is None or owner == subscription_id:
                out.append(ii)
        return out

    def _sweep(self, invoice: dict, customer: dict, sub: dict | None) -> None:
        """Attach pending items: a subscription invoice takes that subscription's
        items plus the customer's one-off items; a manual invoice without
        ``subscription`` takes all of the customer's."""
        for ii in self.pending_items(customer["id"]):
            owner = ii["parent"]["subscription_details"]["subscription"] if ii["parent"] else None
            if sub is None or owner in (None, sub["id"]):
                ii["invoice"] = invoice["id"]
                invoice["lines"].append(self._item_line(invoice, ii))

    def _total(self, invoice: dict) -> None:
        total = sum(line["amount"] for line in invoice["lines"])
        invoice.update(subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total)
        if invoice["status"] == "draft":
            invoice["amount_due"] = invoice["amount_remaining"] = max(total, 0)

    def create_invoice(self, customer: dict, *, subscription: dict | None, pending_behavior: str,
                       auto_advance: bool | None, description: str | None, metadata: dict | None) -> dict:
        if subscription is not None and subscription["customer"] != customer["id"]:
            raise StripeError.state("The subscription does not belong to this customer.", param="subscription")
        now = self.now(customer["id"])
        invoice = self._new_invoice(customer, subscription, "manual", now, (now, now))
        invoice["description"] = description
        invoice["metadata"] = metadata or {}
        if auto_advance:
            # Stripe finalizes API-created invoices with auto_advance about an hour later (reference §2).
            invoice["auto_advance"] = True
            invoice["automatically_finalizes_at"] = now + 3600
        if pending_behavior == "include":
            self._sweep(invoice, customer, subscription)
        self._total(invoice)
        self.emit("invoice.created", invoice)
        return invoice

    def finalize_invoice(self, invoice: dict, *, automatic: bool = False) -> dict:
        if invoice["status"] != "draft":
            raise StripeError.state("This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                                    param="invoice")
        customer = self.customers[invoice["customer"]]
        now = self.now(customer["id"])
        total = invoice["total"]
        starting = customer["balance"]
        amount_due, ending = billing.apply_balance(total, starting)
        if ending != starting:
            self.add_balance_transaction(customer, ending - starting, "applied_to_invoice", invoice=invoice["id"])
        self.invoice_number += 1
        invoice.update(status="open", starting_balance=starting, ending_balance=ending, amount_due=amount_due,
                       amount_remaining=amount_due, number=f"{customer['invoice_prefix']}-{self.invoice_number:04d}",
                       effective_at=now, automatically_finalizes_at=None)
        invoice["status_transitions"]["finalized_at"] = now
        self.emit("invoice.finalized", invoice, automatic=automatic)
        if amount_due == 0:
            self._mark_paid(invoice, now, automatic)
        elif amount_due < USD_MINIMUM_CHARGE and invoice["currency"] == "usd":
            # Below the minimum charge: marked paid, the amount moves to the balance
            # and is collected with the next invoice (reference §1 Credits).
            self.add_balance_transaction(customer, amount_due, "invoice_too_small", invoice=invoice["id"])
            invoice["amount_remaining"] = 0
            self._mark_paid(invoice, now, automatic)
        return invoice

    def _mark_paid(self, invoice: dict, now: int, automatic: bool) -> None:
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = now
        self.emit("invoice.paid", invoice, automatic=automatic)

    def attempt_payment(self, invoice: dict, *, automatic: bool = False) -> bool:
        """Charge the customer's default payment method; True if it succeeded."""
        if invoice["status"] == "draft":
            self.finalize_invoice(invoice, automatic=automatic)
        if invoice["status"] == "paid":
            return True
        if invoice["status"] != "open":
            raise StripeError.state(f"You cannot pay an invoice with status {invoice['status']}.", param="invoice")
        customer = self.customers[invoice["customer"]]
        now = self.now(customer["id"])
        method = customer["invoice_settings"]["default_payment_method"]
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        sub_id = invoice["parent"]["subscription_details"]["subscription"] if invoice["parent"] else None
        sub = self.subscriptions.get(sub_id) if sub_id else None
        if method is not None and method not in FAILING_PAYMENT_METHODS:
            invoice["amount_paid"] = invoice["amount_due"]
            invoice["amount_remaining"] = 0
            self._mark_paid(invoice, now, automatic)
            self.emit("invoice.payment_succeeded", invoice, automatic=automatic)
            if sub is not None and sub["status"] in ("past_due", "incomplete") and sub["latest_invoice"] == invoice["id"]:
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                self.emit("customer.subscription.updated", sub, previous, automatic=automatic)
            return True
        self.emit("invoice.payment_failed", invoice, automatic=automatic)
        if sub is not None and sub["status"] == "active" and invoice["billing_reason"] != "subscription_create":
            sub["status"] = "past_due"
            self.emit("customer.subscription.updated", sub, {"status": "active"}, automatic=automatic)
        return False

    # -------------------------------------------------------------- preview

    def preview(self, customer: dict, sub: dict, *, changes: list[dict] | None, proration_behavior: str,
                proration_date: int | None) -> dict:
        """The invoice an update would produce, computed on a throw-away copy.

        ``always_invoice``: the immediate proration invoice. Otherwise: the next
        renewal invoice (pending items, the new prorations, next period's lines).
        """
        events, self.events = self.events, []  # the event history is not needed to preview
        try:
            scratch = copy.deepcopy(self)
        finally:
            self.events = events
        scratch.scratch = True
        sub_c = scratch.subscriptions[sub["id"]]
        cust_c = scratch.customers[customer["id"]]
        at = proration_date if proration_date is not None else scratch.now(customer["id"])
        latest_before = sub_c["latest_invoice"]
        if changes:
            before = set(scratch.invoiceitems)
            scratch.change_items(sub_c, changes, proration_behavior="none" if proration_behavior == "none"
                                 else "create_prorations", proration_date=proration_date, metadata=None)
            new_items = [scratch.invoiceitems[i] for i in scratch.invoiceitems if i not in before]
        else:
            new_items = []
        if sub_c["latest_invoice"] != latest_before:
            # An interval change bills at once; that immediate invoice is the preview.
            invoice = scratch.invoices[sub_c["latest_invoice"]]
            invoice.update(status="draft", billing_reason="upcoming", number=None, amount_paid=0)
        elif proration_behavior == "always_invoice":
            invoice = scratch._new_invoice(cust_c, sub_c, "upcoming", at, (at, at))
            for ii in new_items:
                invoice["lines"].append(scratch._item_line(invoice, ii))
        else:
            first = scratch.items[sub_c["item_ids"][0]]
            start, end = first["current_period_start"], first["current_period_end"]
            interval, count = scratch._interval(sub_c)
            invoice = scratch._new_invoice(cust_c, sub_c, "upcoming", end, (start, end))
            scratch._sweep(invoice, cust_c, sub_c)  # attaching on the scratch copy is harmless
            for si in sub_c["item_ids"]:
                invoice["lines"].append(scratch._cycle_line(
                    invoice, scratch.items[si], end,
                    billing.period_containing(sub_c["billing_cycle_anchor"], interval, count, end)[1]))
        scratch._total(invoice)
        amount_due, ending = billing.apply_balance(invoice["total"], cust_c["balance"])
        invoice.update(id=f"upcoming_in_{sub['id']}", starting_balance=cust_c["balance"], ending_balance=ending,
                       amount_due=amount_due, amount_remaining=amount_due)
        if proration_date is not None:
            invoice["parent"]["subscription_details"]["subscription_proration_date"] = proration_date
        for line in invoice["lines"]:
            line["invoice"] = invoice["id"]
        return scratch.render(invoice)
