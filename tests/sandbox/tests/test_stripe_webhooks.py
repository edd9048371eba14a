"""Stripe webhooks from the sandbox: signatures stripe-python accepts, retries, injected disorder."""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

SECRET = "whsec_sandbox_test_secret"
SEP_1_2020 = 1598918400


def register(sandbox, url, **settings):
    r = requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/endpoints", json={"url": url, "secret": SECRET})
    assert r.status_code == 201
    if settings:
        assert requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json=settings).ok
    return r.json()["id"]


def flush(sandbox):
    assert requests.post(f"{sandbox.url}/_sandbox/webhooks/flush", json={"timeout": 10}).json() == {"drained": True}


def verified(receiver):
    return [stripe.Webhook.construct_event(r["body"].decode(), r["headers"]["Stripe-Signature"], SECRET)
            for r in receiver.accepted()]


def test_events_are_signed_so_construct_event_accepts_them(sandbox, stripe_client, webhook_receiver):
    register(sandbox, webhook_receiver.url)
    clock, customer = stripe_customer_on_clock(stripe_client, SEP_1_2020)
    seat = stripe_price(stripe_client, "Seat", 1000)
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]})
    stripe_client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 4})
    flush(sandbox)
    events = verified(webhook_receiver)
    types = [e.type for e in events]
    assert types[:3] == ["test_helpers.test_clock.created", "customer.created", "product.created"]
    assert types.count("invoiceitem.created") == 2 and "customer.subscription.updated" in types
    stored = {e.id for e in stripe_client.v1.events.list({"limit": 100}).data}
    assert {e.id for e in events} == stored  # every event delivered once, and retrievable
    header = webhook_receiver.received[0]["headers"]["Stripe-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(webhook_receiver.received[0]["body"].decode(), header, "whsec_wrong")


def test_failed_deliveries_are_retried_three_times_then_abandoned(sandbox, stripe_client, webhook_receiver):
    register(sandbox, webhook_receiver.url, backoff_seconds=0.001)
    assert requests.get(f"{sandbox.url}/_sandbox/webhooks/stripe/settings").json()["max_retries"] == 3
    webhook_receiver.statuses = [500, 502]
    stripe_client.v1.customers.create({"email": "retry@example.com"})
    flush(sandbox)
    assert [r["status"] for r in webhook_receiver.received] == [500, 502, 200]
    attempts = [r["headers"]["Stripe-Signature"] for r in webhook_receiver.received]
    assert all(stripe.Webhook.construct_event(webhook_receiver.received[i]["body"].decode(), attempts[i], SECRET)
               for i in range(3))
    webhook_receiver.statuses = [500] * 4
    stripe_client.v1.customers.create({"email": "never@example.com"})
    flush(sandbox)
    log = requests.get(f"{sandbox.url}/_sandbox/webhooks/log").json()["data"]
    assert [e["outcome"] for e in log[-5:]] == ["failed", "failed", "failed", "failed", "gave_up"]


def test_duplicates_drops_and_reordering_can_be_injected(sandbox, stripe_client, webhook_receiver):
    register(sandbox, webhook_receiver.url, duplicate_rate=1.0)
    first = stripe_client.v1.customers.create({})
    flush(sandbox)
    assert [e.data.object.id for e in verified(webhook_receiver)] == [first.id, first.id]

    requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json={"duplicate_rate": 0, "drop_rate": 1.0})
    stripe_client.v1.customers.create({})
    flush(sandbox)
    assert len(webhook_receiver.received) == 2

    requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json={"drop_rate": 0, "reorder_rate": 1.0})
    older = stripe_client.v1.customers.create({})
    requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json={"reorder_rate": 0})
    newer = stripe_client.v1.customers.create({})
    flush(sandbox)
    assert [e.data.object.id for e in verified(webhook_receiver)[2:]] == [newer.id, older.id]


def test_endpoint_registration_needs_a_secret(sandbox, webhook_receiver):
    r = requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/endpoints", json={"url": webhook_receiver.url})
    assert r.status_code == 400 and r.json()["error"]["field"] == "secret"
    endpoint = register(sandbox, webhook_receiver.url)
    assert requests.delete(f"{sandbox.url}/_sandbox/webhooks/endpoints/{endpoint}").ok
    assert requests.get(f"{sandbox.url}/_sandbox/webhooks/stripe/endpoints").json() == {"data": []}


def test_undelivered_events_can_be_found_with_delivery_success_false(sandbox, stripe_client, webhook_receiver):
    register(sandbox, webhook_receiver.url, drop_rate=1.0)
    lost = stripe_client.v1.customers.create({})
    requests.post(f"{sandbox.url}/_sandbox/webhooks/stripe/settings", json={"drop_rate": 0})
    kept = stripe_client.v1.customers.create({})
    flush(sandbox)
    undelivered = stripe_client.v1.events.list({"delivery_success": False}).data
    delivered = stripe_client.v1.events.list({"delivery_success": True}).data
    assert [e.data.object.id for e in undelivered] == [lost.id]
    assert [e.data.object.id for e in delivered] == [kept.id]
    assert stripe_client.v1.events.retrieve(undelivered[0].id).pending_webhooks == 1
    assert delivered[0].pending_webhooks == 0
