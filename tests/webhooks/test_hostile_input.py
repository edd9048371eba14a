"""Inputs that used to reach a 500 on the HTTP surfaces: each is now a 4xx problem naming the field,
and nothing is stored (found by review; Python's int() digit cap, bool-as-int, JSON nesting, UTF-16)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace

import pytest

from adapter import store
from adapter.intake.signing import sign
from tests.conftest import PRODUCT_SECRET

STRIPE_SECRET = "whsec_hostile_stripe"
BASIC = "Basic " + base64.b64encode(b"cb-user:cb-password-0123").decode()
OPS = {"Authorization": "Bearer " + "t" * 24}


@pytest.fixture
def hostile(settings):
    from webhooks import create_app

    configured = replace(settings, stripe_webhook_secrets=(STRIPE_SECRET,), chargebee_webhook_user="cb-user",
                         chargebee_webhook_password="cb-password-0123", ops_token="t" * 24)
    return create_app(configured).test_client(), configured


def stored(settings) -> int:
    db = store.open_db(settings.database)
    try:
        return db.execute(
            "SELECT (SELECT count(*) FROM provider_events) + (SELECT count(*) FROM product_events)").fetchone()[0]
    finally:
        db.close()


def stripe_signature(payload: str) -> str:
    t = int(time.time())
    return f"t={t},v1=" + hmac.new(STRIPE_SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()


def assert_problem(response, status: int, field: str):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert field in [e["field"] for e in body["errors"]], body


def test_a_timestamp_header_too_long_for_int_is_a_401_without_any_credentials(hostile):
    client, settings = hostile
    response = client.post("/webhooks/product", data="{}", content_type="application/json",
                           headers={"webhook-id": "m", "webhook-timestamp": "9" * 5000, "webhook-signature": "v1,AAAA"})
    assert_problem(response, 401, "webhook-timestamp")


@pytest.mark.parametrize("body, status, field", [
    (json.dumps({"id": "e1", "type": ["seat.activated"], "account": "a", "occurred_at": "2026-04-01T00:00:00Z"}),
     422, "/type"),
    ("[" * 100_000, 400, ""),
])
def test_signed_product_bodies_that_crashed_are_problems(hostile, body, status, field):
    client, settings = hostile
    response = client.post("/webhooks/product", data=body, content_type="application/json",
                           headers=sign(PRODUCT_SECRET, body, "msg_hostile"))
    assert_problem(response, status, field)
    assert stored(settings) == 0


@pytest.mark.parametrize("payload, field", [
    ("[]", ""), ("1", ""), ("null", ""), ("[" * 50_000, ""),
    ('{"id":"evt_1","object":"event","type":"invoice.paid","created":true,"data":{"object":{}}}', "/created"),
    ('{"id":"evt_2","object":"event","type":"invoice.paid","created":1,"data":{"object":{"object":"invoice",'
     '"id":["in_1"]}}}', "/data/object/id"),
])
def test_signed_stripe_bodies_that_crashed_are_400s(hostile, payload, field):
    client, settings = hostile
    response = client.post("/webhooks/stripe", data=payload, headers={"Stripe-Signature": stripe_signature(payload)})
    assert_problem(response, 400, field)
    assert stored(settings) == 0


@pytest.mark.parametrize("body, field", [
    (json.dumps({"id": "ev_1", "event_type": "subscription_created", "occurred_at": 1, "content": {}}).encode("utf-16"),
     ""),
    (b"[" * 100_000, ""),
    (json.dumps({"id": "ev_2", "event_type": "x", "occurred_at": True, "content": {}}).encode(), "/occurred_at"),
    (json.dumps({"id": "ev_3", "event_type": "subscription_changed", "occurred_at": 1,
                 "content": {"subscription": {"id": ["sub_1"]}}}).encode(), "/content/subscription/id"),
])
def test_authenticated_chargebee_bodies_that_crashed_are_400s(hostile, body, field):
    client, settings = hostile
    response = client.post("/webhooks/chargebee", data=body, headers={"Authorization": BASIC})
    assert_problem(response, 400, field)
    assert stored(settings) == 0


@pytest.mark.parametrize("query, field", [("period=9999-12", "period"), ("tolerance=" + "9" * 5000, "tolerance"),
                                          ("tolerance=%C2%B2", "tolerance")])
def test_ops_parameters_that_crashed_are_400s(hostile, query, field):
    client, _ = hostile
    assert_problem(client.get(f"/ops/reconciliation?format=json&{query}", headers=OPS), 400, field)
