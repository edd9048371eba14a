"""Issue 12: provider webhooks are checked at receipt against the fields seatsync reads, with their types
(adapter/providers/<name>/shapes.py). Before: a Stripe ``customer`` that was not an id got 200, then
failed five times in the worker ("Error binding parameter … type 'dict' is not supported")."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapter import store
from adapter.callbacks import events as provider_events
from tests.fixtures import load, stripe_event, stripe_signature
from tests.webhooks import test_chargebee as chargebee_hooks

STRIPE_SECRET = "whsec_shapes_stripe_0123456789"


@pytest.fixture
def clients(settings):
    from webhooks import create_app

    configured = replace(settings, stripe_webhook_secrets=(STRIPE_SECRET,), chargebee_webhook_user=chargebee_hooks.USER,
                         chargebee_webhook_password=chargebee_hooks.PASSWORD)
    return create_app(configured).test_client(), configured


def post_stripe(client, event):
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, STRIPE_SECRET)}
    return client.post("/webhooks/stripe", data=body, headers=headers)


def nothing_stored(settings) -> bool:
    db = store.open_db(settings.database)
    try:
        return all(count == 0 for count in store.count_provider_rows(db).values())
    finally:
        db.close()


def subscription(**changes):
    obj = load("stripe/subscription.json")
    for path, value in changes.items():
        node = obj
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return stripe_event("customer.subscription.updated", obj, created=1767225600, event_id="evt_shape")


@pytest.mark.parametrize("change, field", [
    ({"customer": {"object": "customer", "email": "a@example.com"}}, "/data/object/customer"),  # expanded, no id
    ({"customer": ["cus_1"]}, "/data/object/customer"),
    ({"items__data__0__quantity": "5"}, "/data/object/items/data/0/quantity"),
    ({"items__data__0__quantity": True}, "/data/object/items/data/0/quantity"),
    ({"items__data__0__price": {"unit_amount_decimal": "10"}}, "/data/object/items/data/0/price"),
    ({"items__data__0__price__unit_amount_decimal": 10.5}, "/data/object/items/data/0/price"),
    ({"items__data": {"0": {}}}, "/data/object/items/data"),
    ({"metadata": ["seatsync_account"]}, "/data/object/metadata"),
    ({"status": 3}, "/data/object/status"),
])
def test_a_stripe_subscription_of_the_wrong_shape_is_400_and_stores_nothing(clients, change, field):
    client, settings = clients
    response = post_stripe(client, subscription(**change))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in [e["field"] for e in response.get_json()["errors"]]
    assert nothing_stored(settings)


def test_stripe_invoice_lines_and_amounts_are_checked(clients):
    client, settings = clients
    invoice = load("stripe/invoice_paid.json")
    invoice["total"] = "80.00"
    invoice["lines"]["data"][0].pop("amount")
    response = post_stripe(client, stripe_event("invoice.paid", invoice, created=1767225600, event_id="evt_inv"))
    fields = [e["field"] for e in response.get_json()["errors"]]
    assert response.status_code == 400 and "/data/object/total" in fields
    assert "/data/object/lines/data/0/amount" in fields
    assert nothing_stored(settings)


def test_every_stripe_fixture_still_passes_and_is_processed(clients):
    client, settings = clients
    fixtures = {"customer.json": "customer.created", "subscription.json": "customer.subscription.created",
                "invoice_paid.json": "invoice.paid", "invoice_payment_failed.json": "invoice.payment_failed",
                "invoiceitem.json": "invoiceitem.created", "credit_note.json": "credit_note.created",
                "charge.json": "charge.succeeded"}
    for n, (name, kind) in enumerate(fixtures.items()):
        event = stripe_event(kind, load(f"stripe/{name}"), created=1767225600 + n, event_id=f"evt_{n}")
        assert post_stripe(client, event).status_code == 200, name


@pytest.mark.parametrize("change, field", [
    (lambda e: e["content"]["subscription"]["subscription_items"][0].update(quantity="5"),
     "/content/subscription/subscription_items/0/quantity"),
    (lambda e: e["content"]["subscription"].update(meta_data=["seatsync_account"]), "/content/subscription/meta_data"),
    (lambda e: e["content"]["subscription"].update(resource_version={"v": 1}),
     "/content/subscription/resource_version"),
    (lambda e: e["content"]["subscription"].update(customer_id=42), "/content/subscription/customer_id"),
    (lambda e: e["content"].update(customer={"email": "x@example.com"}), "/content/customer/id"),
])
def test_a_chargebee_resource_of_the_wrong_shape_is_400_and_stores_nothing(clients, change, field):
    client, settings = clients
    event = load("chargebee/subscription_created.json")
    change(event)
    response = chargebee_hooks.post(client, event)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in [e["field"] for e in response.get_json()["errors"]]
    assert nothing_stored(settings)


def test_every_chargebee_fixture_still_passes(clients):
    client, _ = clients
    for name in ("subscription_created", "subscription_changed", "payment_failed", "credit_note_created"):
        assert chargebee_hooks.post(client, load(f"chargebee/{name}.json")).status_code == 200, name


# Generated: any value in any field seatsync reads. Accepted events must be ones the worker can apply;
# refused ones store nothing; nothing is ever a 5xx.
HOSTILE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                                 st.floats(allow_nan=False), st.text(max_size=20)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                                             max_size=3)),
                       max_leaves=8)
STRIPE_FIELDS = ["customer", "status", "currency", "metadata", "created", "latest_invoice", "items__data__0__quantity",
                 "items__data__0__price", "items__data__0__id", "items__data__0__current_period_start", "items__data",
                 "items"]
HYPOTHESIS = hypothesis_settings(max_examples=80, deadline=None,
                                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HYPOTHESIS
@given(changes=st.dictionaries(st.sampled_from(STRIPE_FIELDS), HOSTILE, min_size=1, max_size=4))
def test_generated_stripe_subscriptions_are_applied_or_refused_never_5xx(clients, changes):
    client, settings = clients
    try:
        event = subscription(**{k: copy.deepcopy(v) for k, v in sorted(changes.items(), key=lambda kv: -len(kv[0]))})
    except (KeyError, IndexError, TypeError):
        return  # an earlier change replaced the container a later one names
    COUNTER[0] += 1
    event["id"], event["created"] = f"evt_gen_{COUNTER[0]}", 1767225600 + COUNTER[0]  # always newer: no re-fetch
    db = store.open_db(settings.database)
    try:
        before = store.count_provider_rows(db)
        response = post_stripe(client, event)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
            assert store.count_provider_rows(db) == before
            return
        provider_events.process_pending_provider_events(db, settings, fetchers={})
        failed = [(row["event_id"], row["error"]) for row in store.provider_event_rows(db)
                  if row["status"] == "failed" or row["error"]]
        assert not failed, failed
    finally:
        db.close()


COUNTER = [0]


CHARGEBEE_FIELDS = ["customer_id", "status", "meta_data", "current_term_start", "current_term_end", "resource_version",
                    "subscription_items", "due_invoices_count", "created_at"]


@HYPOTHESIS
@given(changes=st.dictionaries(st.sampled_from(CHARGEBEE_FIELDS), HOSTILE, min_size=1, max_size=4),
       item=st.dictionaries(st.sampled_from(["item_price_id", "quantity", "unit_price", "unit_price_in_decimal"]),
                            HOSTILE, max_size=2))
def test_generated_chargebee_subscriptions_are_applied_or_refused_never_5xx(clients, changes, item):
    client, settings = clients
    event = load("chargebee/subscription_changed.json")
    sub = event["content"]["subscription"]
    sub.update(copy.deepcopy(changes))
    if isinstance(sub.get("subscription_items"), list) and sub["subscription_items"] \
            and isinstance(sub["subscription_items"][0], dict):
        sub["subscription_items"][0].update(copy.deepcopy(item))
    COUNTER[0] += 1
    event["id"] = f"ev_gen_{COUNTER[0]}"
    db = store.open_db(settings.database)
    try:
        before = store.count_provider_rows(db)
        response = chargebee_hooks.post(client, event)
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
            assert store.count_provider_rows(db) == before
            return
        provider_events.process_pending_provider_events(db, settings, fetchers={})
        failed = [(row["event_id"], row["error"]) for row in store.provider_event_rows(db)
                  if row["status"] == "failed" or row["error"]]
        assert not failed, failed
    finally:
        db.close()
