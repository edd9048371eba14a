"""Stripe half state: the ledger plus the reliability knobs (limits, locks, delays)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tests.sandbox.core import SlidingWindowLimiter, World
from tests.sandbox.stripe.ledger import Ledger

# Test-mode defaults from reference stripe.md §6 (RL, RL-JA).
DEFAULT_REQUESTS_PER_SECOND = 25
DEFAULT_QUANTITY_UPDATES_PER_HOUR = 200


@dataclass
class StripeLimits:
    requests_per_second: int | None = DEFAULT_REQUESTS_PER_SECOND
    # The window the request limit counts over; tests stretch it so the result
    # does not depend on how fast requests are made.
    request_window_seconds: float = 1.0
    quantity_updates_per_hour: int | None = DEFAULT_QUANTITY_UPDATES_PER_HOUR
    # Seconds a write holds its object lock before applying; lets tests create
    # genuinely concurrent writes to one subscription (→ 429 lock_timeout).
    write_delay_seconds: float = 0.0


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
        # world.config["stripe_limits"] overrides Stripe's defaults, e.g. the test
        # fixtures lift the 25 requests/s limit so tests never depend on speed.
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
