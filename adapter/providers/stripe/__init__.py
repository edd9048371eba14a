"""Stripe, as seatsync uses it (docs/stripe.md): the provider facts, and the parts that build its calls,
price its lines and read its objects. The SDK is imported only by ``client.py`` and ``seats.py``, and
only when a configured client is asked for."""

from __future__ import annotations

from typing import Any

from adapter.providers.base import Grid, SubscriptionState
from adapter.providers.stripe import calls, events, normalize
from adapter.providers.stripe.billing import StripeBilling


class Stripe:
    name = "stripe"
    display_name = "Stripe"
    granularities = ("second", "day")  # per second; "day" dates a change at its local midnight
    zero_seat_rules = ("allow", "hold_minimum", "remove_item")
    zero_seats_required = False
    minimum_quantity = 0
    billing = StripeBilling()
    quantity_updates_per_hour = 200  # per subscription (docs/stripe.md#rate-limits)
    plan_changes_dated = True  # proration_date
    unpaid_statuses = ("open", "uncollectible")
    credits_issued_at_change = False  # a credit is a pending item until the next invoice
    sweep_overlap_seconds = 3 * 24 * 3600  # events list: a delivery may lag days (docs/stripe.md#webhook-delivery)

    line_end_slack_seconds = 0
    reshapes_open_charges = False

    def amount_owed(self, invoice: dict) -> int:
        """What a mirrored invoice still owes: Stripe's ``amount_due`` does not drop as payments arrive."""
        return (invoice["amount_due"] or 0) - (invoice["amount_paid"] or 0)

    normalize = normalize  # objects → mirror rows
    events = events  # webhook events → raw rows and what they mean for the mirror
    quantity_call = staticmethod(calls.quantity_call)
    plan_change_call = staticmethod(calls.plan_change_call)
    addons_call = staticmethod(calls.addons_call)
    threshold_call = staticmethod(calls.threshold_call)

    @staticmethod
    def price_change_call(plan, state: SubscriptionState, *, quantity: int, day, timezone=None):
        # NOT DONE (issue 19): Stripe needs a subscription schedule phase at the period end, and a
        # subscription a schedule manages takes quantity changes only through its phases. Until seat
        # sync writes through schedules, nothing is sent; reconcile names the renewal still on the old
        # price (price_change_not_applied).
        return None

    def doctor(self, settings: Any, catalog, url: str | None) -> list:
        """``seatsync doctor``: the catalogue's prices, the webhook endpoint and the settings, as findings."""
        from adapter.providers.stripe import doctor

        return doctor.check(settings, catalog, url)

    def configured(self, settings: Any) -> bool:
        return bool(settings.stripe_api_key)

    def seat_client(self, settings: Any):
        from adapter.providers.stripe.client import stripe_client
        from adapter.providers.stripe.seats import StripeSeats

        return StripeSeats(stripe_client(settings))

    def demo_subscription(self, settings: Any, account: str, plan, quantity: int, key: str) -> str:
        """A subscription for a demo account (the embedded world, tests)."""
        from adapter.providers.stripe.client import create_demo_subscription, stripe_client

        return create_demo_subscription(stripe_client(settings), account, plan, quantity, key)

    def demo_advance(self, settings: Any, subscriptions: list[str], to_s: int) -> list[str]:
        """Move the test clocks behind ``subscriptions`` to ``to_s`` (test mode, the sandbox)."""
        from adapter.providers.stripe import demo
        from adapter.providers.stripe.client import stripe_client

        return demo.advance(stripe_client(settings), subscriptions, to_s)

    def demo_set_quantity(self, settings: Any, state: SubscriptionState, quantity: int) -> None:
        """Set the seat quantity directly, as a person in the dashboard would (the demo's injected drift)."""
        from adapter.providers.stripe import demo
        from adapter.providers.stripe.client import stripe_client

        if state.seat_item is None:
            raise ValueError(f"subscription {state.subscription} has no seat item to tamper with")
        demo.set_quantity(stripe_client(settings), state.subscription, state.seat_item, quantity)

    def sandbox_settings(self, plans: list) -> dict[str, dict]:
        """The local sandbox's settings these plans need: none (Stripe prices carry everything)."""
        return {}

    def fetcher(self, settings: Any):
        """Reads objects and events by id (ordering, verification, invoice lines)."""
        from adapter.providers.stripe.client import StripeFetcher, stripe_client

        return StripeFetcher(stripe_client(settings))

    def backfill_source(self, settings: Any):
        """The list APIs a backfill walks, resumably."""
        from adapter.providers.stripe.client import StripeSource

        return StripeSource(settings)

    def list_events(self, settings: Any, since: int | None):
        """The provider's events since ``since`` (its own timestamps), for the sweeper."""
        from adapter.providers.stripe import client

        return client.list_events_since(client.stripe_client(settings), since)

    def refetches_events(self, settings: Any) -> bool:
        return False  # signed events: the signature is the proof

    def grid(self, plan, state: SubscriptionState, timezone: str, *, period_start_us: int, provider_now_us: int,
             backdating: bool, last_change_us: int) -> Grid:
        """``proration_date``: any whole second of the current period up to Stripe's now, in any order."""
        return Grid("day" if plan.proration == "day" else "second", "second", period_start_us,
                    state.period_end_us, period_start_us, provider_now_us, timezone)

    def after_plan_change(self, state: SubscriptionState, new_plan, timezone: str | None) -> SubscriptionState:
        """The same seat item, now on the new plan's price; a base fee added without an item id yet."""
        from dataclasses import replace

        from adapter.providers.calls import price_points

        seat, base = price_points(state, new_plan, timezone)
        return replace(state, seat_price=seat.price_id, base_price=base.price_id if base else None,
                       base_item=state.base_item if base else None)

    def policy_columns(self) -> list[tuple[str, dict[tuple[str, str], str]]]:
        return [("Stripe `proration_behavior`", dict(calls.PRORATION))]


PROVIDER = Stripe()
