"""Everything the sandboxed Chargebee site holds, plus its clock.

Resources are stored as dicts in the JSON shape the API returns; keys that
start with ``_`` are the sandbox's own bookkeeping and never leave it
(``public``). Subscriptions are rendered on the way out because their term
fields depend on the billing mode.

The clock is the site's time machine: frozen at the genesis time and moved
only by ``travel_forward`` (so tests never depend on wall-clock speed).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

from ..core import SlidingWindowLimiter
from ..core.tables import Index, Journal, Queue, Table

from .settings import SiteSettings

TIME_MACHINE = "delorean"  # the one time machine a Chargebee test site has


def public(obj: Any) -> Any:
    """A deep copy without the sandbox's private ``_`` keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def next_due(sub: dict) -> tuple | None:
    """``(instant ms, created_at, id)`` of the next thing the clock does to ``sub``, or None."""
    status = sub["status"]
    if status == "active":
        at = sub["_term_end_ms"]
        if sub.get("_pause_at_ms") is not None:
            at = min(at, sub["_pause_at_ms"])
    elif status == "non_renewing":
        at = sub.get("_cancel_at_ms")  # None: set by the control API only (never ends by itself)
    elif status == "paused":
        at = sub.get("_resume_at_ms")
    else:
        at = None
    return None if at is None else (at, sub["created_at"], sub["id"])


class ChargebeeState:
    def __init__(self, genesis_ms: int | None = None):
        self.settings = SiteSettings()
        # Requests per window for the whole site (real time: a rate limit is about wall-clock load).
        self.limiter = SlidingWindowLimiter(self.settings.rate_limit_per_minute,
                                            self.settings.rate_limit_window_seconds)
        self.reset(genesis_ms)

    def reset(self, genesis_ms: int | None = None) -> None:
        """Empty site; settings back to defaults; clock at ``genesis_ms`` (default: now, whole seconds)."""
        self.settings = SiteSettings()
        self.apply_rate_limit()
        self.clear_data(genesis_ms if genesis_ms is not None else int(time.time()) * 1000)

    def apply_rate_limit(self) -> None:
        self.limiter.configure(self.settings.rate_limit_per_minute, self.settings.rate_limit_window_seconds)

    def clear_data(self, genesis_ms: int) -> None:
        """What ``time_machines/delorean/start_afresh`` does: wipe data, keep settings."""
        self.now_ms = genesis_ms
        self.time_machine = {"name": TIME_MACHINE, "time_travel_status": "succeeded",
                             "genesis_time": genesis_ms // 1000, "destination_time": genesis_ms // 1000,
                             "object": "time_machine"}
        journal = self.journal = Journal()
        self.customers, self.items, self.item_prices = Table(journal), Table(journal), Table(journal)
        self.subscriptions, self.invoices, self.credit_notes = Table(journal), Table(journal), Table(journal)
        self.unbilled_charges, self.transactions = Table(journal), Table(journal)
        self.webhook_endpoints = Table(journal)  # configuration only (ops/endpoints.py)
        self._index()
        self.events: dict[str, dict] = {}
        self.idempotency: dict[str, dict] = {}
        self.pending_events: list[dict] = []
        self._counters: dict[str, int] = {}
        self._last_version = 0

    def _index(self) -> None:
        """What requests look up by owner or state instead of scanning the site (core/tables.py)."""
        subs, invoices, notes, charges = self.subscriptions, self.invoices, self.credit_notes, self.unbilled_charges
        self.subscriptions_by_customer = Index(subs, lambda s: s["customer_id"])
        # What is due next, in time order (``travel_forward``): renewals, scheduled pauses,
        # cancellations and resumptions (ops/lifecycle.py ``next_due``).
        self.renewals = Queue(subs, next_due)
        self.invoices_by_subscription = Index(invoices, lambda i: i.get("subscription_id"))
        self.invoices_by_customer = Index(invoices, lambda i: i["customer_id"])
        self.due_invoices = Index(invoices, lambda i: i.get("subscription_id") if i["amount_due"] > 0
                                  and i["status"] in ("payment_due", "not_paid") else None)
        self.credit_notes_by_subscription = Index(notes, lambda cn: cn.get("subscription_id"))
        self.credit_notes_by_customer = Index(notes, lambda cn: cn["customer_id"])
        self.available_credits = Index(notes, lambda cn: cn["customer_id"] if cn["type"] == "refundable"
                                       and cn["amount_available"] > 0 and cn["status"] != "voided" else None)
        self.unbilled_by_subscription = Index(charges, lambda uc: uc["subscription_id"])
        self.unbilled_by_customer = Index(charges, lambda uc: uc["customer_id"])
        self.open_unbilled = Index(charges, lambda uc: uc["subscription_id"]
                                   if not uc["is_voided"] and not uc["deleted"] else None)
        self.open_unbilled_by_customer = Index(charges, lambda uc: uc["customer_id"]
                                               if not uc["is_voided"] and not uc["deleted"] else None)

    def tables(self) -> tuple[Table, ...]:
        return (self.customers, self.items, self.item_prices, self.subscriptions, self.invoices, self.credit_notes,
                self.unbilled_charges, self.transactions, self.webhook_endpoints)

    # ids and versions -----------------------------------------------------

    def next_id(self, kind: str) -> str:
        number = self._counters.get(kind, 0) + 1
        self._counters[kind] = number
        # Chargebee invoice ids are plain sequence numbers; credit notes are
        # "CN-n"; the rest are opaque strings.
        if kind == "invoice":
            return str(number)
        if kind == "credit_note":
            return f"CN-{number}"
        return f"{kind}_{number:06d}"

    def touch(self, obj: dict) -> None:
        """Bump ``resource_version`` (ms, strictly increasing) and ``updated_at`` (s)."""
        version = max(self.now_ms, self._last_version + 1)
        self._last_version = version
        obj["resource_version"] = version
        obj["updated_at"] = self.now_ms // 1000

    def touch_unversioned(self, obj: dict) -> None:
        """Bump only ``updated_at`` (s): for resources whose model declares no ``resource_version``
        (chargebee-python's ``UnbilledChargeResponse`` has ``created_at``/``updated_at`` and no version)."""
        obj["updated_at"] = self.now_ms // 1000

    @property
    def now(self) -> int:
        return self.now_ms // 1000

    # requests: all or nothing ---------------------------------------------

    def begin(self) -> None:
        """Start a write: what it reaches is saved (core/tables.py) so ``rollback`` can undo it."""
        self._scalars = (self.now_ms, dict(self.time_machine), dict(self._counters), self._last_version)
        self.journal.begin(saving=True)

    def rollback(self) -> None:
        """Undo the write (a rejected request, or an estimate): objects, clock, counters, events."""
        self.journal.rollback()
        self.journal.end()
        self.now_ms, self.time_machine, self._counters, self._last_version = self._scalars
        self.pending_events = []

    def commit(self) -> None:
        self.journal.end()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``begin`` … ``commit``, or ``rollback`` on any error (control API writes)."""
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()
