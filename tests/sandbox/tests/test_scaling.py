"""A request's work follows what it touches, not the size of the history (core/tables.py).

No wall-clock timing: the journal counts the stored objects each request reached, the table
entries it scanned and the objects it re-filed in indexes (``Journal.last_visits``). The same calls on a fresh subscription must visit
exactly as many objects with five times more history around them; the indexes must equal ones
rebuilt from scratch afterwards.
"""

from __future__ import annotations

from tests.sandbox.chargebee.testing import SEAT, Site, ts

FROZEN = 1775001600  # 2026-04-01T00:00:00Z


def _all_tables(state) -> list:
    return list(state.tables()) if hasattr(state, "tables") else [
        state.customers, state.products, state.prices, state.subscriptions, state.items, state.invoiceitems,
        state.invoices, state.clocks, state.balance_transactions]


def _chargebee_history(site: Site, start: int, count: int) -> None:
    for n in range(start, start + count):
        site.customer(f"h{n}")
        site.subscribe(f"h{n}", f"h{n}", [(SEAT, 2)])
        site.change(f"h{n}", [(SEAT, 4)], prorate=True, invoice_immediately=True)  # an invoice
        site.change(f"h{n}", [(SEAT, 3)], prorate=True, invoice_immediately=True)  # a refundable credit note
        site.change(f"h{n}", [(SEAT, 5)], prorate=True, invoice_immediately=False)  # an unbilled charge


def _chargebee_probe(site: Site, journal, name: str, minute: int) -> list[int]:
    cb = site.cb
    site.customer(name)
    site.subscribe(name, name, [(SEAT, 5)])
    visits = []
    for quantity in (7, 6, 8):
        site.change(name, [(SEAT, quantity)], prorate=True, invoice_immediately=False)
        visits.append(journal().last_visits)
    site.change(name, [(SEAT, 4)], prorate=True, invoice_immediately=True)
    visits.append(journal().last_visits)
    cb.Estimate.update_subscription_for_items({"subscription": {"id": name},
                                               "subscription_items": [{"item_price_id": SEAT, "quantity": 9}]})
    visits.append(journal().last_visits)
    cb.UnbilledCharge.invoice_unbilled_charges({"subscription_id": name})
    visits.append(journal().last_visits)
    cb.TimeMachine.travel_forward("delorean", {"destination_time": ts(2026, 4, 2) + 60 * minute})
    visits.append(journal().last_visits)
    cb.Invoice.list({"limit": 100})  # a listing reaches every invoice: the reads after it must not pay for that
    before = journal().work
    cb.Subscription.retrieve(name)
    visits.append(journal().work - before)
    return visits


def test_chargebee_requests_visit_what_they_touch(sandbox, chargebee_client):
    site = Site(sandbox, chargebee_client)
    site.settings(rate_limit_per_minute=None)
    site.start(2026, 4, 1)
    site.price(SEAT, "plan", 1000)

    def journal():
        return sandbox.world.chargebee.journal

    _chargebee_history(site, 0, 4)
    small = _chargebee_probe(site, journal, "probe-a", 1)
    _chargebee_history(site, 4, 20)
    assert len(sandbox.world.chargebee.invoices) > 40
    large = _chargebee_probe(site, journal, "probe-b", 2)
    assert large == small
    assert max(small) < 200
    for table in _all_tables(sandbox.world.chargebee):
        table.check()


def _stripe_history(client, price: str, count: int) -> None:
    v1 = client.v1
    for _ in range(count):
        clock = v1.test_helpers.test_clocks.create({"frozen_time": FROZEN})
        customer = v1.customers.create({"test_clock": clock.id, "payment_method": "pm_card_visa"})
        sub = v1.subscriptions.create({"customer": customer.id, "items": [{"price": price, "quantity": 2}]})
        item = sub["items"].data[0].id
        v1.subscription_items.update(item, {"quantity": 4, "proration_behavior": "always_invoice"})
        v1.subscription_items.update(item, {"quantity": 3})


def _stripe_probe(client, price: str, journal) -> list[int]:
    v1 = client.v1
    clock = v1.test_helpers.test_clocks.create({"frozen_time": FROZEN})
    customer = v1.customers.create({"test_clock": clock.id, "payment_method": "pm_card_visa"})
    sub = v1.subscriptions.create({"customer": customer.id, "items": [{"price": price, "quantity": 5}]})
    item = sub["items"].data[0].id
    visits = []
    for quantity in (7, 6):
        v1.subscription_items.update(item, {"quantity": quantity})
        visits.append(journal().last_visits)
    v1.invoices.create_preview({"subscription": sub.id,
                                "subscription_details": {"items": [{"id": item, "quantity": 9}]}})
    visits.append(journal().last_visits)
    v1.invoice_items.list({"customer": customer.id, "pending": True})
    visits.append(journal().last_visits)
    v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FROZEN + 3600})
    visits.append(journal().last_visits)
    v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FROZEN + 32 * 86400})  # a renewal
    visits.append(journal().last_visits)
    return visits


def test_stripe_requests_visit_what_they_touch(sandbox, stripe_client):
    v1 = stripe_client.v1
    product = v1.products.create({"name": "Seat"})
    price = v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 1000,
                              "recurring": {"interval": "month"}}).id

    def journal():
        return sandbox.world.stripe.ledger.journal

    _stripe_history(stripe_client, price, 4)
    small = _stripe_probe(stripe_client, price, journal)
    _stripe_history(stripe_client, price, 20)
    assert len(sandbox.world.stripe.ledger.invoices) > 40
    large = _stripe_probe(stripe_client, price, journal)
    assert large == small
    assert max(small) < 200
    for table in _all_tables(sandbox.world.stripe.ledger):
        table.check()
