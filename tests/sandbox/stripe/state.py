"""Everything the Stripe half holds: the ``Ledger`` (objects, events, clocks) and the reliability state.

The ``Ledger`` is plain data plus id/clock/lookup accessors, so a preview can
run an update on a deep copy and throw it away; the billing operations on it
are the free functions of ``tests.sandbox.stripe.ops``. Objects are stored in
the shape stripe-python 16.1.0 expects for API version 2026-10-28.endive.
``StripeState`` adds what is about requests rather than billing: limits,
limiters, in-flight idempotency keys and the write gate.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..core import SlidingWindowLimiter, World
from ..core.tables import Index, Journal, Table
from .errors import StripeError
from .settings import StripeLimits

API_VERSION = "2026-10-28.endive"
LIVE_STATUSES = ("active", "past_due")  # subscriptions that renew


def owner_subscription(obj: dict) -> str | None:
    """The subscription an invoice or invoice item belongs to (``parent.subscription_details``)."""
    return obj["parent"]["subscription_details"]["subscription"] if obj.get("parent") else None


class Ledger:
    def __init__(self, start_time: int):
        self.default_time = start_time
        journal = self.journal = Journal()
        self.customers, self.products, self.prices = Table(journal), Table(journal), Table(journal)
        self.subscriptions, self.items, self.invoiceitems = Table(journal), Table(journal), Table(journal)
        self.invoices, self.clocks, self.balance_transactions = Table(journal), Table(journal), Table(journal)
        self.schedules, self.webhook_endpoints = Table(journal), Table(journal)
        self._index()
        self.events: list[dict] = []
        self.events_by_id: dict[str, dict] = {}
        self._counters: dict[str, int] = {}
        self.invoice_number = 0
        # The request being served (for events' ``request`` field); none for clock-driven work.
        self.request: dict = {"id": None, "idempotency_key": None}
        self.scratch = False

    def _index(self) -> None:
        """What requests look up by owner or state instead of scanning the account (core/tables.py).
        Clock buckets are ``("clock", id)``, ``("clock", None)`` for the default clock."""
        self.subscriptions_by_customer = Index(self.subscriptions, lambda s: s["customer"])
        self.live_subscriptions = Index(self.subscriptions, lambda s: ("clock", s["test_clock"])
                                        if s["status"] in LIVE_STATUSES else None)
        self.invoices_by_customer = Index(self.invoices, lambda i: i["customer"])
        self.invoices_by_subscription = Index(self.invoices, owner_subscription)
        # Drafts that finalize by themselves when their clock passes automatically_finalizes_at.
        self.auto_drafts = Index(self.invoices, lambda i: ("clock", i["test_clock"])
                                 if i["status"] == "draft" and i["auto_advance"] else None)
        self.invoiceitems_by_customer = Index(self.invoiceitems, lambda ii: ii["customer"])
        self.pending_items = Index(self.invoiceitems, lambda ii: ii["customer"]
                                   if ii["invoice"] is None and not ii.get("deleted") else None)
        self.balance_transactions_by_customer = Index(self.balance_transactions, lambda t: t["customer"])

    def add_event(self, event: dict) -> None:
        self.events.append(event)
        self.events_by_id[event["id"]] = event

    def mark(self) -> tuple:
        """What ``undo_to`` returns to: events, id counters, invoice numbers (with ``journal.savepoint``)."""
        return len(self.events), dict(self._counters), self.invoice_number

    def undo_to(self, mark: tuple) -> None:
        self.journal.rollback()
        events, self._counters, self.invoice_number = mark[0], dict(mark[1]), mark[2]
        for event in self.events[events:]:
            del self.events_by_id[event["id"]]
        del self.events[events:]

    def new_id(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        # Objects made for a preview must never share an id with real ones.
        return f"{prefix}_{'tmp' if self.scratch else 'sbx'}{n:010d}"

    def now(self, customer_id: str | None = None) -> int:
        """The customer's clock: its test clock, else the world's default clock."""
        customer = self.customers.get(customer_id) if customer_id else None
        clock_id = customer and customer.get("test_clock")
        return self.clocks[clock_id]["frozen_time"] if clock_id else self.default_time

    def get(self, table: dict, kind: str, object_id: Any, param: str = "id") -> dict:
        if not isinstance(object_id, str) or object_id not in table:
            raise StripeError.no_such(kind, str(object_id), param)
        return table[object_id]

    def lookup(self, object_id: str) -> dict | None:
        for table in (self.customers, self.products, self.prices, self.subscriptions, self.items,
                      self.invoiceitems, self.invoices, self.clocks, self.balance_transactions, self.schedules):
            if object_id in table:
                return table[object_id]
        return None


class StripeState:
    def __init__(self, world: World, start_time: int | None = None):
        self.world = world
        self._start_time = start_time
        self.limits = self._default_limits()
        self.request_limiter = SlidingWindowLimiter(self.limits.requests_per_second,
                                                    self.limits.request_window_seconds)
        self.quantity_limiter = SlidingWindowLimiter(self.limits.quantity_updates_per_hour, 3600.0)
        self.in_flight_keys: set[str] = set()
        self.ledger = Ledger(self._initial_time())
        # Closed by the control API, the gate stops writers right after they took
        # their object lock: tests get a concurrent writer without racing the clock.
        self.write_gate = threading.Event()
        self.write_gate.set()
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    def wait_at_gate(self, timeout: float = 30.0) -> None:
        if self.write_gate.is_set():
            return
        with self._waiting_lock:
            self._waiting += 1
        try:
            self.write_gate.wait(timeout)
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    @property
    def waiting_writers(self) -> int:
        with self._waiting_lock:
            return self._waiting

    def _default_limits(self) -> StripeLimits:
        return StripeLimits(**self.world.config.get("stripe_limits", {}))

    def _initial_time(self) -> int:
        # The default clock (for customers without a test clock) is frozen at the
        # wall-clock second the world was (re)set, and moves only when told to.
        return self._start_time if self._start_time is not None else int(time.time())

    def configure_limits(self, *, requests_per_second=..., request_window_seconds=...,
                         quantity_updates_per_hour=..., write_delay_seconds=...) -> StripeLimits:
        if request_window_seconds is not ...:
            self.limits.request_window_seconds = request_window_seconds
        if requests_per_second is not ...:
            self.limits.requests_per_second = requests_per_second
        if requests_per_second is not ... or request_window_seconds is not ...:
            self.request_limiter.configure(self.limits.requests_per_second, self.limits.request_window_seconds)
        if quantity_updates_per_hour is not ...:
            self.limits.quantity_updates_per_hour = quantity_updates_per_hour
            self.quantity_limiter.configure(quantity_updates_per_hour)
        if write_delay_seconds is not ...:
            self.limits.write_delay_seconds = write_delay_seconds
        return self.limits

    def reset(self) -> None:
        self.limits = self._default_limits()
        self.request_limiter.configure(self.limits.requests_per_second, self.limits.request_window_seconds)
        self.quantity_limiter.configure(self.limits.quantity_updates_per_hour)
        self.in_flight_keys.clear()
        self.write_gate.set()
        self.ledger = Ledger(self._initial_time())
