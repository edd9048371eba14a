"""Per-request cost of the sandbox against the size of its history (``python -m tests.sandbox.bench``).

Fills each half with about N invoices (many subscriptions, each with a few invoiced changes), then
times, through the official SDKs on a loopback server, the calls a seat sync makes: Chargebee
``update_for_items`` (alternating up and down, unbilled charges and credit notes) and
``travel_forward`` (one hour, no renewal due), Stripe ``subscription_items.update``,
``invoices.create_preview`` and a test clock ``advance`` (one hour). Prints milliseconds per request for each N. Wall-clock figures, for
the README; the fidelity suite checks the same property without timing, by counting the objects
each request visits (``tests/sandbox/tests/test_scaling.py``).
"""

from __future__ import annotations

import argparse
import time

import httpx

from tests.sandbox.chargebee.testing import SEAT, Site, ts
from tests.support.sandbox_fixtures import TEST_CONFIG, pool_chargebee_http, start_sandbox

PER_SUB = 10  # invoices per subscription in the filled history


def _chargebee(running, invoices: int, samples: int) -> dict:
    from chargebee import Chargebee

    Chargebee.verify_ca_certs = False
    cb = Chargebee(api_key="test_x", site="127", chargebee_domain=f"0.0.1:{running.port}", protocol="http")
    site = Site(running, cb)
    site.settings(rate_limit_per_minute=None)
    site.start(2026, 4, 1)
    site.price(SEAT, "plan", 1000)
    for n in range(max(1, invoices // PER_SUB)):
        site.customer(f"c{n}")
        site.subscribe(f"c{n}", f"s{n}", [(SEAT, 1)])
        for q in range(2, PER_SUB + 1):
            site.change(f"s{n}", [(SEAT, q)], prorate=True, invoice_immediately=True)
    site.customer("probe")
    site.subscribe("probe", "probe", [(SEAT, 5)])
    start = time.perf_counter()
    for i in range(samples):
        site.change("probe", [(SEAT, 6 if i % 2 == 0 else 5)], prorate=True, invoice_immediately=False)
    update = (time.perf_counter() - start) / samples
    start = time.perf_counter()
    for i in range(samples):
        cb.TimeMachine.travel_forward("delorean", {"destination_time": ts(2026, 4, 2) + 600 * (i + 1)})
    travel = (time.perf_counter() - start) / samples
    return {"update_for_items": update, "travel_forward": travel}


def _stripe(running, invoices: int, samples: int) -> dict:
    import stripe

    client = stripe.StripeClient("sk_test_x", base_addresses={"api": running.url})
    v1 = client.v1
    frozen = 1775001600  # 2026-04-01
    product = v1.products.create({"name": "Seat"})
    price = v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 1000,
                              "recurring": {"interval": "month"}})
    for n in range(max(1, invoices // PER_SUB)):
        clock = v1.test_helpers.test_clocks.create({"frozen_time": frozen})
        customer = v1.customers.create({"test_clock": clock.id, "payment_method": "pm_card_visa"})
        sub = v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id, "quantity": 1}]})
        item = sub["items"].data[0].id
        for q in range(2, PER_SUB + 1):
            v1.subscription_items.update(item, {"quantity": q, "proration_behavior": "always_invoice"})
    clock = v1.test_helpers.test_clocks.create({"frozen_time": frozen})
    customer = v1.customers.create({"test_clock": clock.id, "payment_method": "pm_card_visa"})
    sub = v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id, "quantity": 5}]})
    item = sub["items"].data[0].id
    start = time.perf_counter()
    for i in range(samples):
        v1.subscription_items.update(item, {"quantity": 6 if i % 2 == 0 else 5})
    update = (time.perf_counter() - start) / samples
    start = time.perf_counter()
    for i in range(samples):
        v1.invoices.create_preview({"subscription": sub.id,
                                    "subscription_details": {"items": [{"id": item, "quantity": 9}]}})
    preview = (time.perf_counter() - start) / samples
    start = time.perf_counter()
    for i in range(samples):
        v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": frozen + 3600 * (i + 1)})
    advance = (time.perf_counter() - start) / samples
    return {"subscription_items.update": update, "create_preview": preview, "test_clocks.advance": advance}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    pool_chargebee_http()
    running = start_sandbox(TEST_CONFIG)
    try:
        for n in args.invoices:
            for name, run in (("chargebee", _chargebee), ("stripe", _stripe)):
                running.world.reset()
                figures = run(running, n, args.samples)
                shown = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in figures.items())
                print(f"{n:>6} invoices  {name:<9} {shown}", flush=True)
    finally:
        running.stop()
        httpx.Client().close()


if __name__ == "__main__":
    main()
