"""Chargebee (Product Catalog 2.0, API v2), as seatsync uses it (docs/chargebee.md): the provider facts,
and the parts that build its calls, price its lines and read its objects. The SDK is imported only by
``client.py`` and ``seats.py``, and only when a configured client is asked for."""

from __future__ import annotations

from typing import Any, Literal

from adapter.providers.base import Grid, SubscriptionState
from adapter.providers.chargebee import calls, events, normalize
from adapter.providers.chargebee.billing import ChargebeeBilling


class Chargebee:
    name = "chargebee"
    display_name = "Chargebee"
    granularities = ("day", "millisecond")  # the site's billing mode (docs/chargebee.md#billing-modes)
    zero_seat_rules = ("hold_minimum", "remove_item")
    zero_seats_required = True  # subscription_items[quantity] must be at least 1
    minimum_quantity = 1
    billing = ChargebeeBilling()
    quantity_updates_per_hour = None  # only the site's request limit
    plan_changes_dated = False  # applied when made
    unpaid_statuses = ("payment_due", "not_paid")
    credits_issued_at_change = True  # a proration credit is a credit note issued at once
    sweep_overlap_seconds = 10 * 60

    # Day-based mode shows a line's date_to as the last second of its last day (docs/chargebee.md#billing-modes).
    line_end_slack_seconds = 1
    # A later change voids and reissues the open unbilled charges (docs/chargebee.md#unbilled-charges).
    reshapes_open_charges = True

    def amount_owed(self, invoice: dict) -> int:
        """What a mirrored invoice still owes: ``amount_due`` is what is left after payments."""
        return invoice["amount_due"] or 0

    normalize = normalize  # objects → mirror rows
    events = events  # webhook events → raw rows and what they mean for the mirror
    quantity_call = staticmethod(calls.quantity_call)
    plan_change_call = staticmethod(calls.plan_change_call)
    addons_call = staticmethod(calls.addons_call)
    threshold_call = staticmethod(calls.threshold_call)
    price_change_call = staticmethod(calls.price_change_call)

    def doctor(self, settings: Any, catalog, url: str | None) -> list:
        """``seatsync doctor``: the catalogue's prices, the webhook endpoint and the settings, as findings."""
        from adapter.providers.chargebee import doctor

        return doctor.check(settings, catalog, url)

    def configured(self, settings: Any) -> bool:
        return bool(settings.chargebee_api_key)

    def seat_client(self, settings: Any):
        from adapter.providers.chargebee.client import chargebee_client
        from adapter.providers.chargebee.seats import ChargebeeSeats

        return ChargebeeSeats(chargebee_client(settings), backdating=settings.chargebee_backdating)

    def demo_subscription(self, settings: Any, account: str, plan, quantity: int, key: str) -> str:
        """A subscription for a demo account (the embedded world, tests)."""
        from adapter.providers.chargebee.client import chargebee_client, create_demo_subscription

        return create_demo_subscription(chargebee_client(settings), account, plan, quantity, key)

    def demo_advance(self, settings: Any, subscriptions: list[str], to_s: int) -> list[str]:
        """Move the site's time machine to ``to_s`` (test sites, the sandbox)."""
        from adapter.providers.chargebee import demo
        from adapter.providers.chargebee.client import chargebee_client

        return demo.advance(chargebee_client(settings), subscriptions, to_s)

    def demo_set_quantity(self, settings: Any, state: SubscriptionState, quantity: int) -> None:
        """Set the seat quantity directly, as a person in the dashboard would (the demo's injected drift)."""
        from adapter.providers.chargebee import demo
        from adapter.providers.chargebee.client import chargebee_client

        if state.seat_price is None:
            raise ValueError(f"subscription {state.subscription} has no seat item to tamper with")
        demo.set_quantity(chargebee_client(settings), state.subscription, state.seat_price, quantity)

    def sandbox_settings(self, plans: list) -> dict[str, dict]:
        """The local sandbox's site settings (control API) that bill these plans as configured: a
        Chargebee site has one billing mode and one timezone (site settings, docs/chargebee.md)."""
        ours = [plan for plan in plans if plan.provider == self.name]
        if not ours:
            return {}
        day = [plan for plan in ours if plan.proration == "day"]
        timezone = (day or ours)[0].timezone
        return {"chargebee/settings": {"billing_mode": "day" if day else "millisecond", "timezone": timezone}}

    def fetcher(self, settings: Any):
        """Reads objects and events by id (ordering, verification, invoice lines)."""
        from adapter.providers.chargebee.client import ChargebeeFetcher, chargebee_client

        return ChargebeeFetcher(chargebee_client(settings))

    def backfill_source(self, settings: Any):
        """The list APIs a backfill walks, resumably."""
        from adapter.providers.chargebee.client import ChargebeeSource

        return ChargebeeSource(settings)

    def list_events(self, settings: Any, since: int | None):
        """The provider's events since ``since`` (its own timestamps), for the sweeper."""
        from adapter.providers.chargebee import client

        return client.list_events_since(client.chargebee_client(settings), since)

    def refetches_events(self, settings: Any) -> bool:
        return bool(settings.chargebee_refetch_events)  # unsigned: CHARGEBEE_WEBHOOK_REFETCH

    def grid(self, plan, state: SubscriptionState, timezone: str, *, period_start_us: int, provider_now_us: int,
             backdating: bool, last_change_us: int) -> Grid:
        """Without backdating a change applies at Chargebee's now. With it, ``changes_scheduled_at`` takes
        whole seconds (day mode: any instant of the day) that never go back and follow the last item
        change (docs/chargebee.md#backdating; which instant counts as the last change is UNVERIFIED:
        seatsync takes the latest date it gave or found in this period)."""
        unit: Literal["day", "millisecond"] = "day" if plan.proration == "day" else "millisecond"
        if not backdating:
            return Grid("now", unit, period_start_us, state.period_end_us, provider_now_us, provider_now_us,
                        timezone)
        return Grid("day" if unit == "day" else "second", unit, period_start_us, state.period_end_us,
                    max(last_change_us, period_start_us), provider_now_us, timezone, monotonic=True)

    def after_plan_change(self, state: SubscriptionState, new_plan, timezone: str | None) -> SubscriptionState:
        """A Chargebee item is named by its item price: the new plan's seat and base-fee prices."""
        from dataclasses import replace

        from adapter.providers.calls import price_points

        seat, base = price_points(state, new_plan, timezone)
        base_id = base.price_id if base else None
        return replace(state, seat_price=seat.price_id, seat_item=seat.price_id, base_price=base_id, base_item=base_id)

    def policy_columns(self) -> list[tuple[str, dict[tuple[str, str], str]]]:
        return [("Chargebee `prorate`", {k: str(v[0]).lower() for k, v in calls.FLAGS.items()}),
                ("Chargebee `invoice_immediately`", {k: str(v[1]).lower() for k, v in calls.FLAGS.items()})]


PROVIDER = Chargebee()
