"""Everything the sandboxed Chargebee site holds, plus its clock.

Resources are stored as dicts in the JSON shape the API returns; keys that
start with ``_`` are the sandbox's own bookkeeping and never leave it
(``public``). Subscriptions are rendered on the way out because their term
fields depend on the billing mode.

The clock is the site's time machine: frozen at the genesis time and moved
only by ``travel_forward`` (so tests never depend on wall-clock speed).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.sandbox.core import SlidingWindowLimiter

from tests.sandbox.chargebee.settings import SiteSettings

TIME_MACHINE = "delorean"  # the one time machine a Chargebee test site has


def public(obj: Any) -> Any:
    """A deep copy without the sandbox's private ``_`` keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


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
        self.customers: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.item_prices: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.credit_notes: dict[str, dict] = {}
        self.unbilled_charges: dict[str, dict] = {}
        self.transactions: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.idempotency: dict[str, dict] = {}
        self.pending_events: list[dict] = []
        self._counters: dict[str, int] = {}
        self._last_version = 0

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

    def snapshot(self) -> "ChargebeeState":
        """A deep copy to run an estimate on without touching the real site."""
        twin = copy.copy(self)
        for name in ("customers", "items", "item_prices", "subscriptions", "invoices", "credit_notes",
                     "unbilled_charges", "transactions"):
            setattr(twin, name, copy.deepcopy(getattr(self, name)))
        twin.time_machine = dict(self.time_machine)
        twin.events = {}
        twin.pending_events = []
        twin._counters = dict(self._counters)
        return twin

    def restore(self, twin: "ChargebeeState") -> None:
        """Undo a failed write: put back the data captured by ``snapshot``."""
        for name in ("customers", "items", "item_prices", "subscriptions", "invoices", "credit_notes",
                     "unbilled_charges", "transactions"):
            setattr(self, name, getattr(twin, name))
        self.now_ms = twin.now_ms
        self.time_machine = dict(twin.time_machine)
        self._counters = dict(twin._counters)
        self._last_version = twin._last_version
        self.pending_events = []
