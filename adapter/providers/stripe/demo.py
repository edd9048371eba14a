"""The demo world on Stripe (``seatsync demo``): move test clocks, change a quantity behind seatsync's back.

Only for test mode (test clocks exist only there) and the local sandbox. Both go through Stripe's own API:
``test_helpers.test_clocks.advance`` and ``subscriptions.update`` (docs/stripe.md).
"""

from __future__ import annotations

import time
from functools import partial

import stripe

from adapter.providers.retry import call_with_retries

# Stripe refuses an advance beyond two intervals of the shortest subscription on the clock
# (the sandbox says so too): a long move is made in steps a monthly subscription accepts.
MAX_STEP_SECONDS = 28 * 24 * 3600


def _id(value) -> str | None:
    return value if isinstance(value, str) or value is None else value["id"]


def clock_of(client: stripe.StripeClient, subscription: str) -> str | None:
    """The test clock the subscription's customer follows, or None (a customer on the real clock)."""
    sub = call_with_retries(lambda: client.v1.subscriptions.retrieve(subscription)).to_dict()
    return _id(sub.get("test_clock"))


def clock_now(client: stripe.StripeClient, clock: str) -> int:
    return int(call_with_retries(lambda: client.v1.test_helpers.test_clocks.retrieve(clock)).frozen_time)


def clock_status(client: stripe.StripeClient, clock: str) -> str:
    return call_with_retries(lambda: client.v1.test_helpers.test_clocks.retrieve(clock)).status


def advance(client: stripe.StripeClient, subscriptions: list[str], to_s: int, *, timeout: float = 60.0) -> list[str]:
    """Advance every test clock behind ``subscriptions`` to ``to_s`` (never back); what moved, for people."""
    moved = []
    for clock in dict.fromkeys(c for c in (clock_of(client, s) for s in subscriptions) if c):
        now = clock_now(client, clock)
        while now < to_s:
            step = min(to_s, now + MAX_STEP_SECONDS)
            call_with_retries(partial(client.v1.test_helpers.test_clocks.advance, clock, {"frozen_time": step}))
            deadline = time.monotonic() + timeout
            # Stripe advances asynchronously (status "advancing" until the clock is "ready").
            while clock_status(client, clock) != "ready":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"test clock {clock} still advancing after {timeout:.0f} s")
                time.sleep(0.5)
            now = step
        moved.append(f"Stripe test clock {clock}")
    return moved


def set_quantity(client: stripe.StripeClient, subscription: str, seat_item: str, quantity: int) -> None:
    """The seat item's quantity set directly, without prorations: what someone in the dashboard might do."""
    call_with_retries(lambda: client.v1.subscriptions.update(
        subscription, {"items": [{"id": seat_item, "quantity": quantity}], "proration_behavior": "none"}))
