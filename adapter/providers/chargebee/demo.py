"""The demo world on Chargebee (``seatsync demo``): travel the time machine, change a quantity behind seatsync's back.

Only for test sites (the time machine exists only there) and the local sandbox, through Chargebee's own API:
``TimeMachine.travel_forward`` and ``Subscription.update_for_items`` (docs/chargebee.md).
"""

from __future__ import annotations

from adapter.providers.retry import call_with_retries

TIME_MACHINE = "delorean"  # a test site's one time machine


def site_now(client) -> int:
    machine = call_with_retries(lambda: client.TimeMachine.retrieve(TIME_MACHINE)).time_machine
    return int(machine.destination_time)


def advance(client, subscriptions: list[str], to_s: int) -> list[str]:
    """Travel the site's time machine to ``to_s`` (never back); it renews every subscription on the way."""
    if not subscriptions:
        return []
    if site_now(client) < to_s:
        call_with_retries(lambda: client.TimeMachine.travel_forward(TIME_MACHINE, {"destination_time": to_s}))
    return [f"Chargebee time machine {TIME_MACHINE}"]


def set_quantity(client, subscription: str, seat_price: str, quantity: int) -> None:
    """The seat item's quantity set directly, without proration: what someone in the dashboard might do."""
    call_with_retries(lambda: client.Subscription.update_for_items(
        subscription, {"subscription_items": [{"item_price_id": seat_price, "quantity": quantity}],
                       "prorate": False, "invoice_immediately": False}))
