"""POST /webhooks/stripe: verified with the SDK on the raw body, stored once, nothing stored on failure."""

import json
import time
from dataclasses import replace

import pytest

from adapter import store
from tests.fixtures import load, stripe_event, stripe_signature

URL = "/webhooks/stripe"
OLD_SECRET = "whsec_stripe_endpoint_old_0123456789"
NEW_SECRET = "whsec_stripe_endpoint_new_9876543210"


@pytest.fixture
def stripe_app(settings):
    from webhooks import create_app

    app = create_app(replace(settings, stripe_webhook_secrets=(NEW_SECRET, OLD_SECRET)))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(stripe_app):
    return stripe_app.test_client()


def body_of(event) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def post(client, event=None, *, body=None, secret=NEW_SECRET, timestamp=None, header=None):
    body = body_of(event) if body is None else body
    headers = {"Content-Type": "application/json"}
    signature = stripe_signature(body, secret, timestamp) if header is None else header
    if signature is not False:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers)


def nothing_stored(db) -> bool:
    return all(count == 0 for count in store.count_provider_rows(db).values())


def sub_event(event_id="evt_1", created=1767225600, **changes):
    obj = load("stripe/subscription.json") | changes
    return stripe_event("customer.subscription.created", obj, created=created, event_id=event_id)


def test_verified_event_is_stored_raw_and_answered_2xx(client, db):
    event = sub_event()
    response = post(client, event)
    assert response.status_code == 200
    assert response.json == {"received": True, "duplicate": False}
    rows = store.provider_event_rows(db)
    assert len(rows) == 1
    assert rows[0]["body"] == body_of(event).decode()  # the exact bytes Stripe signed
    assert (rows[0]["event_id"], rows[0]["type"], rows[0]["object_id"], rows[0]["status"]) == \
        ("evt_1", "customer.subscription.created", "sub_1Q2w3e4r", "pending")
    assert store.mirror_rows(db, "mirror_subscriptions") == []  # processing is the worker's job


def test_either_rotated_secret_verifies(client, db):
    assert post(client, sub_event("evt_old"), secret=OLD_SECRET).status_code == 200
    assert post(client, sub_event("evt_new", status="past_due"), secret=NEW_SECRET).status_code == 200
    assert len(store.provider_event_rows(db)) == 2


@pytest.mark.parametrize("case", ["wrong_secret", "missing_header", "tampered_body", "too_old", "garbage_header"])
def test_failed_verification_is_401_problem_and_stores_nothing(client, db, case):
    event = sub_event()
    body = body_of(event)
    if case == "wrong_secret":
        response = post(client, event, secret="whsec_someone_else_entirely_000")
    elif case == "missing_header":
        response = post(client, event, header=False)
    elif case == "tampered_body":
        header = stripe_signature(body, NEW_SECRET)
        response = post(client, body=body.replace(b"active", b"canceled"), header=header)
    elif case == "too_old":
        response = post(client, event, timestamp=int(time.time()) - 301)
    else:
        response = post(client, event, header="t=abc,v1=nothex")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"][0]["field"] == "Stripe-Signature"
    assert nothing_stored(db)


def test_no_configured_secret_means_401_not_trust(settings, db):
    from webhooks import create_app

    client = create_app(settings).test_client()
    response = post(client, sub_event())
    assert response.status_code == 401
    assert "STRIPE_WEBHOOK_SECRETS" in response.json["errors"][0]["reason"]
    assert nothing_stored(db)


def test_signed_but_malformed_event_is_400_naming_the_field(client, db):
    event = sub_event()
    del event["type"]
    event["data"] = {"object": "nope"}
    response = post(client, event)
    assert response.status_code == 400
    assert {e["field"] for e in response.json["errors"]} == {"/type", "/data/object"}
    assert nothing_stored(db)


def test_same_event_three_times_is_stored_once(client, db):
    event = sub_event()
    answers = [post(client, event).json["duplicate"] for _ in range(3)]
    assert answers == [False, True, True]
    rows = store.provider_event_rows(db)
    assert len(rows) == 1 and rows[0]["seen_count"] == 3


def test_two_event_objects_for_one_change_are_one_event(client, db):
    # "In some cases, two separate Event objects are generated" (docs/stripe.md#webhook-delivery).
    assert post(client, sub_event("evt_a")).json["duplicate"] is False
    assert post(client, sub_event("evt_b")).json["duplicate"] is True
    # A different change to the same object under the same type is a new event.
    assert post(client, sub_event("evt_c", status="past_due")).json["duplicate"] is False
    assert [r["event_id"] for r in store.provider_event_rows(db)] == ["evt_a", "evt_c"]


def test_a_change_back_to_an_earlier_state_is_not_a_duplicate(client, db):
    # active → past_due → active: the first and last snapshots are identical, the changes are not.
    first = sub_event("evt_1") | {"created": 100}
    back = sub_event("evt_3") | {"created": 300}
    first["type"] = back["type"] = "customer.subscription.updated"
    first["data"]["previous_attributes"] = {"items": {"data": []}}
    back["data"]["previous_attributes"] = {"status": "past_due"}
    assert post(client, first).json["duplicate"] is False
    assert post(client, back).json["duplicate"] is False


def test_a_thin_event_is_refused_with_400(client, db):
    thin = {"id": "evt_thin", "object": "v2.core.event", "type": "v1.invoice.paid", "created": "2026-01-01T00:00:00Z",
            "related_object": {"id": "in_1", "type": "invoice", "url": "/v1/invoices/in_1"}}
    response = post(client, thin)
    assert response.status_code == 400
    assert nothing_stored(db)
