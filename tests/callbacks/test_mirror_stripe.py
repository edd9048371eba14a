"""Stripe callbacks end to end through the sandbox: real signed webhooks over HTTP, with duplicates,
reordering and drops injected, processed by the worker; the mirror must match the sandbox's own state,
and equal the mirror a backfill builds into an empty database.

Scenario (seed articles: per-seat monthly plan, seats added and removed mid-period, renewals, a failed
renewal payment retried, then paid): every event at a test clock's frozen second, so most are
same-second events that the worker settles by re-fetching.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import requests
from standardwebhooks import Webhook
from werkzeug.serving import make_server

from adapter import store
from adapter.callbacks import backfill, mirror, notify, sweeper
from adapter.callbacks import events as provider_events
from adapter.store.connection import open_db
from tests.conftest import ROTATED_SECRET
from tests.support.mirror_checks import assert_stripe_mirror_matches_provider as assert_mirror_matches_provider
from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

SECRET = "whsec_seatsync_stripe_endpoint"
JAN_1_2026 = 1767225600
DAY = 86400


@pytest.fixture
def seatsync(settings, sandbox, webhook_receiver):
    """seatsync's Flask app on a free loopback port, configured for the sandbox."""
    from webhooks import create_app

    configured = replace(settings, stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url,
                         stripe_webhook_secrets=(SECRET,), product_callback_url=webhook_receiver.url,
                         product_callback_secret=ROTATED_SECRET)
    server = make_server("127.0.0.1", 0, create_app(configured), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield configured, f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    server.shutdown()
    thread.join(timeout=5)


def register(sandbox, url, copies=1, **delivery):
    for _ in range(copies):
        r = requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/endpoints", json={"url": url, "secret": SECRET})
        assert r.status_code == 201
    if delivery:
        assert requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json=delivery).ok


def flush(sandbox):
    assert requests.post(f"{sandbox.url}/_sandbox/webhooks/flush", json={"timeout": 20}).json() == {"drained": True}


def work(db, settings):
    """One worker tick: process what arrived (re-fetching from the sandbox where needed)."""
    return provider_events.process_pending_provider_events(db, settings)


def run_scenario(client, sandbox, db, settings):
    clock, customer = stripe_customer_on_clock(client, JAN_1_2026, email="billing@acme.example", name="Acme")
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 5}],
                                          "metadata": {"seatsync_account": "acct_acme"}})
    item = sub["items"].data[0].id
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": JAN_1_2026 + 10 * DAY})
    client.v1.subscription_items.update(item, {"quantity": 8})
    client.v1.subscription_items.update(item, {"quantity": 6})  # same second as the one before
    flush(sandbox)
    work(db, settings)
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": JAN_1_2026 + 31 * DAY + 7200})
    client.v1.subscription_items.update(item, {"quantity": 7})
    flush(sandbox)
    work(db, settings)
    client.v1.customers.update(customer.id,
                               {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": JAN_1_2026 + 59 * DAY + 7200})
    failed = client.v1.invoices.list({"customer": customer.id, "status": "open"}).data[0]
    with pytest.raises(Exception):
        client.v1.invoices.pay(failed.id)  # Stripe retries the payment: a second payment_failed, same invoice
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    client.v1.invoices.pay(failed.id)
    flush(sandbox)
    work(db, settings)
    return customer, sub, failed


def built_by_backfill(settings, tmp_path):
    empty = open_db(tmp_path / "backfilled.db")
    report = backfill.BackfillReport()
    steps = list(backfill.run(empty, settings, "stripe", report=report))
    assert report.complete and steps
    assert set(report.skipped) <= {"credit_notes", "charges"}  # lists the sandbox does not serve
    return empty


def test_duplicated_reordered_webhooks_build_the_providers_mirror(sandbox, stripe_client, seatsync, tmp_path,
                                                                  webhook_receiver, db):
    settings, url = seatsync
    # Three endpoints on one URL: every event is delivered three times, plus injected duplicates and reordering.
    register(sandbox, url, copies=3, duplicate_rate=0.3, reorder_rate=0.5, seed=7)
    customer, sub, failed = run_scenario(stripe_client, sandbox, db, settings)
    report = work(db, settings)
    assert report.failed == 0
    rows = store.provider_event_rows(db)
    assert rows and all(r["status"] == "processed" for r in rows)
    assert min(r["seen_count"] for r in rows) >= 3
    delivered = requests.get(f"{sandbox.url}/_sandbox/webhooks/log").json()["data"]
    assert any(e["outcome"] == "held" for e in delivered)  # reordering really happened

    assert_mirror_matches_provider(db, stripe_client, customer.id)
    linked = store.mirror_row(db, "mirror_subscriptions", "stripe", sub.id)
    assert linked["account"] == "acct_acme"
    assert mirror.comparable(db, "stripe") == mirror.comparable(built_by_backfill(settings, tmp_path), "stripe")

    # The product hears once per fact, signed, even though Stripe failed the payment twice.
    notify.deliver_due_notifications(db, settings)
    received = webhook_receiver.accepted()
    for r in received:
        Webhook(ROTATED_SECRET).verify(r["body"], {k.lower(): v for k, v in r["headers"].items()})
    kinds = [(r["json"]["type"], r["json"]["data"].get("invoice")) for r in received]
    assert kinds.count(("invoice.payment_failed", failed.id)) == 1
    assert kinds.count(("invoice.paid", failed.id)) == 1
    assert [k for k, _ in kinds].count("subscription.past_due") == 1
    assert all(r["json"]["data"]["account"] == "acct_acme" for r in received)
    payment_failed_events = [r for r in rows if r["type"] == "invoice.payment_failed"]
    assert len(payment_failed_events) == 2  # two attempts, two events, one notification


def test_dropped_webhooks_are_recovered_by_the_sweeper(sandbox, stripe_client, seatsync, tmp_path, db):
    settings, url = seatsync
    register(sandbox, url, drop_rate=0.35, seed=3)
    customer, _, _ = run_scenario(stripe_client, sandbox, db, settings)
    dropped = [e for e in requests.get(f"{sandbox.url}/_sandbox/webhooks/log").json()["data"]
               if e["outcome"] == "dropped"]
    assert dropped
    known = {r["event_id"] for r in store.provider_event_rows(db)}
    assert not known & {e["event_id"] for e in dropped}

    [report] = sweeper.sweep_if_due(db, settings, now_us=provider_events.now_us())
    assert report.recovered == len({e["event_id"] for e in dropped})
    work(db, settings)
    processed = {r["event_id"] for r in store.provider_event_rows(db, status="processed")}
    assert {e["event_id"] for e in dropped} <= processed
    assert_mirror_matches_provider(db, stripe_client, customer.id)
    assert mirror.comparable(db, "stripe") == mirror.comparable(built_by_backfill(settings, tmp_path), "stripe")
    # A second sweep within the interval does nothing; after it, finds nothing new.
    assert sweeper.sweep_if_due(db, settings, now_us=provider_events.now_us()) == []
    later = provider_events.now_us() + sweeper.SWEEP_INTERVAL_US
    assert [r.recovered for r in sweeper.sweep_if_due(db, settings, now_us=later)] == [0]


def test_bad_signatures_from_the_wire_store_nothing(sandbox, stripe_client, seatsync, db):
    settings, url = seatsync
    r = requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/endpoints",
                      json={"url": url, "secret": "whsec_not_the_configured_one"})
    assert r.status_code == 201
    stripe_client.v1.customers.create({"email": "x@example.com"})
    flush(sandbox)
    log = requests.get(f"{sandbox.url}/_sandbox/webhooks/log").json()["data"]
    assert {e["status"] for e in log if e["outcome"] == "failed"} == {401}
    assert all(count == 0 for count in store.count_provider_rows(db).values())
