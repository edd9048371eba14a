"""Stripe reliability semantics: idempotency, rate limits, lock timeouts, injected faults."""

from __future__ import annotations

import threading

import pytest
import requests
import stripe

from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

SEP_1_2020 = 1598918400


@pytest.fixture
def seat_sub(stripe_client):
    clock, customer = stripe_customer_on_clock(stripe_client, SEP_1_2020)
    seat = stripe_price(stripe_client, "Seat", 1000)
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 5}]})
    return customer, sub, sub["items"].data[0]


def pending_count(client, customer_id):
    return len(client.v1.invoice_items.list({"customer": customer_id, "pending": True, "limit": 100}).data)


def test_same_key_replays_the_first_response_without_acting_twice(stripe_client, seat_sub):
    customer, sub, item = seat_sub
    options = {"idempotency_key": "seat-sync:sub:7"}
    first = stripe_client.v1.subscription_items.update(item.id, {"quantity": 7}, options)
    second = stripe_client.v1.subscription_items.update(item.id, {"quantity": 7}, options)
    assert first.to_dict() == second.to_dict()
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert pending_count(stripe_client, customer.id) == 2  # one credit/debit pair, not two


def test_same_key_with_different_parameters_is_an_idempotency_error(stripe_client, seat_sub):
    _, _, item = seat_sub
    stripe_client.v1.subscription_items.update(item.id, {"quantity": 7}, {"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError) as mismatch:
        stripe_client.v1.subscription_items.update(item.id, {"quantity": 8}, {"idempotency_key": "k1"})
    assert mismatch.value.http_status == 400
    assert "same parameters" in mismatch.value.user_message
    assert stripe_client.v1.subscription_items.retrieve(item.id).quantity == 7


def test_errors_after_execution_are_replayed_but_validation_errors_are_not_stored(stripe_client):
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020, payment_method="pm_card_chargeDeclined")
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id}]})
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.invoices.pay(sub.latest_invoice, {}, {"idempotency_key": "pay-1"})
    assert declined.value.headers.get("Idempotent-Replayed") == "true"
    assert client.v1.invoices.retrieve(sub.latest_invoice).attempt_count == 2  # create + one pay, not two

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create({"emial": "x@example.com"}, {"idempotency_key": "cus-1"})
    fixed = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "cus-1"})
    assert fixed.email == "x@example.com"


def test_request_rate_limit_answers_429_with_the_limiter_reason(sandbox, stripe_client):
    # 3 requests per hour-long window: the 4th is refused however slow the machine is.
    r = requests.post(f"{sandbox.url}/_sandbox/stripe/limits",
                      json={"requests_per_second": 3, "request_window_seconds": 3600})
    assert r.status_code == 200
    for _ in range(3):
        stripe_client.v1.customers.create({})
    with pytest.raises(stripe.RateLimitError) as limited:
        stripe_client.v1.customers.create({})
    assert limited.value.http_status == 429
    assert limited.value.headers.get("Stripe-Rate-Limited-Reason") == "global-rate"
    assert limited.value.error.code == "rate_limit"
    requests.post(f"{sandbox.url}/_sandbox/stripe/limits", json={"requests_per_second": None})
    stripe_client.v1.customers.create({})


def test_stripe_default_limits_are_the_documented_ones(sandbox):
    from tests.sandbox.stripe.state import StripeLimits

    defaults = StripeLimits()
    assert (defaults.requests_per_second, defaults.request_window_seconds,
            defaults.quantity_updates_per_hour) == (25, 1.0, 200)
    r = requests.post(f"{sandbox.url}/_sandbox/stripe/limits", json={"requests_per_second": -1})
    assert r.status_code == 400 and r.json()["error"]["field"] == "requests_per_second"


def test_quantity_updates_per_subscription_are_limited(sandbox, stripe_client, seat_sub):
    customer, sub, item = seat_sub
    requests.post(f"{sandbox.url}/_sandbox/stripe/limits", json={"quantity_updates_per_hour": 2})
    stripe_client.v1.subscription_items.update(item.id, {"quantity": 6})
    stripe_client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "quantity": 7}]})
    with pytest.raises(stripe.RateLimitError) as limited:
        stripe_client.v1.subscription_items.update(item.id, {"quantity": 8})
    assert limited.value.headers.get("Stripe-Rate-Limited-Reason") == "resource-specific"
    stripe_client.v1.subscriptions.update(sub.id, {"metadata": {"still": "writable"}})  # not a quantity update
    assert stripe_client.v1.subscription_items.retrieve(item.id).quantity == 7


def test_write_to_a_locked_subscription_is_a_lock_timeout(sandbox, stripe_client, seat_sub):
    _, sub, item = seat_sub
    assert requests.post(f"{sandbox.url}/_sandbox/stripe/locks", json={"object": sub.id, "seconds": 30}).ok
    try:
        with pytest.raises(stripe.RateLimitError) as locked:
            stripe_client.v1.subscription_items.update(item.id, {"quantity": 9})
        # How stripe-python surfaces it (reference §6): code on the error body, not the exception.
        assert locked.value.http_status == 429
        assert locked.value.error.code == "lock_timeout"
        assert locked.value.error.type == "invalid_request_error"
        assert "Stripe-Rate-Limited-Reason" not in locked.value.headers
        assert stripe_client.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 5  # reads still work
    finally:
        requests.delete(f"{sandbox.url}/_sandbox/stripe/locks/{sub.id}")
    assert stripe_client.v1.subscription_items.update(item.id, {"quantity": 9}).quantity == 9


class PausedWriter:
    """Starts a write that the sandbox holds inside its subscription lock until ``release``."""

    def __init__(self, sandbox, call):
        self.sandbox = sandbox
        self.outcome: list = []
        requests.post(f"{sandbox.url}/_sandbox/stripe/writes", json={"paused": True})
        self.thread = threading.Thread(target=self._run, args=(call,))
        self.thread.start()
        for _ in range(1000):  # wait (not a timing assumption) until the writer holds the lock
            if requests.get(f"{sandbox.url}/_sandbox/stripe/writes").json()["waiting"] == 1:
                return
            self.thread.join(0.01)
        raise AssertionError("the first writer never reached the sandbox")

    def _run(self, call):
        try:
            self.outcome.append(call())
        except Exception as exc:  # reported to the test through ``outcome``
            self.outcome.append(exc)

    def release(self):
        requests.post(f"{self.sandbox.url}/_sandbox/stripe/writes", json={"paused": False})
        self.thread.join(10)
        return self.outcome[0]


def test_concurrent_writes_to_one_subscription_one_gets_lock_timeout(sandbox, stripe_client, seat_sub):
    _, sub, item = seat_sub
    first = PausedWriter(sandbox, lambda: stripe_client.v1.subscription_items.update(item.id, {"quantity": 6}))
    with pytest.raises(stripe.RateLimitError) as second:
        stripe_client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "quantity": 7}]})
    assert second.value.error.code == "lock_timeout"
    assert first.release().quantity == 6
    assert stripe_client.v1.subscription_items.retrieve(item.id).quantity == 6


def test_write_delay_holds_the_lock_for_real_concurrency(sandbox, stripe_client, seat_sub):
    _, sub, item = seat_sub
    import time

    requests.post(f"{sandbox.url}/_sandbox/stripe/limits", json={"write_delay_seconds": 0.2})
    started = time.monotonic()
    assert stripe_client.v1.subscription_items.update(item.id, {"quantity": 6}).quantity == 6
    assert time.monotonic() - started >= 0.2  # a lower bound: the write waited inside its lock
    assert requests.get(f"{sandbox.url}/_sandbox/stripe/limits").json()["write_delay_seconds"] == 0.2


def test_injected_faults_reach_the_sdk_as_provider_errors(sandbox, stripe_client):
    control = f"{sandbox.url}/_sandbox/faults/stripe"
    requests.post(control, json={"fail_next": {"kind": "rate_limit", "count": 1}})
    with pytest.raises(stripe.RateLimitError):
        stripe_client.v1.customers.create({})
    requests.post(control, json={"server_error_status": 503, "fail_next": {"kind": "server_error"}})
    with pytest.raises(stripe.APIError) as unavailable:
        stripe_client.v1.customers.create({})
    assert unavailable.value.http_status == 503
    requests.post(control, json={"fail_next": {"kind": "timeout"}})
    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.customers.create({})
    injected = requests.get(f"{sandbox.url}/_sandbox/faults").json()["injected"]
    assert [f["kind"] for f in injected] == ["rate_limit", "server_error", "timeout"]


def test_sdk_retries_an_injected_500_with_the_same_idempotency_key(sandbox):
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": sandbox.url}, max_network_retries=1)
    requests.post(f"{sandbox.url}/_sandbox/faults/stripe", json={"fail_next": {"kind": "server_error"}})
    customer = client.v1.customers.create({"email": "retry@example.com"})
    listed = [c for c in sandbox.world.stripe.ledger.customers.values() if c["email"] == "retry@example.com"]
    assert [c["id"] for c in listed] == [customer.id]


def test_fault_rates_with_a_seed_fail_the_same_requests(sandbox, stripe_client):
    def run():
        requests.post(f"{sandbox.url}/_sandbox/reset")
        requests.post(f"{sandbox.url}/_sandbox/faults/stripe", json={"server_error_rate": 0.3, "seed": 11})
        pattern = []
        for _ in range(20):
            try:
                stripe_client.v1.customers.create({})
                pattern.append(True)
            except stripe.APIError:
                pattern.append(False)
        return pattern
    first, second = run(), run()
    assert first == second and False in first and True in first


def test_sdk_retries_a_lock_timeout_because_stripe_says_it_should(sandbox, seat_sub):
    # Stripe-Should-Retry: true makes stripe-python retry lock timeouts (not limiter 429s);
    # its first retry waits at least 0.5 s, longer than this 0.2 s hold.
    _, sub, item = seat_sub
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": sandbox.url}, max_network_retries=2)
    requests.post(f"{sandbox.url}/_sandbox/stripe/locks", json={"object": sub.id, "seconds": 0.2})
    assert client.v1.subscription_items.update(item.id, {"quantity": 8}).quantity == 8


def test_a_key_still_in_flight_is_a_conflict(sandbox, stripe_client, seat_sub):
    _, sub, item = seat_sub

    def update():
        return stripe_client.v1.subscription_items.update(item.id, {"quantity": 6}, {"idempotency_key": "same"})
    first = PausedWriter(sandbox, update)
    with pytest.raises(stripe.APIError) as conflict:  # stripe-python maps 409 to APIError (retried if allowed)
        update()
    assert (conflict.value.http_status, conflict.value.error.code) == (409, "idempotency_key_in_use")
    assert first.release().quantity == 6
    assert update().last_response.headers.get("Idempotent-Replayed") == "true"


def test_sleep_timeouts_and_latency_hold_the_request(sandbox):
    import time

    control = f"{sandbox.url}/_sandbox/faults/stripe"
    impatient = stripe.StripeClient("sk_test_x", base_addresses={"api": sandbox.url},
                                    http_client=stripe.RequestsClient(timeout=0.3))
    requests.post(control, json={"timeout_mode": "sleep", "timeout_seconds": 1.0, "fail_next": {"kind": "timeout"}})
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.create({})
    requests.post(control, json={"latency_seconds": 0.2})
    started = time.monotonic()
    impatient.v1.customers.create({})
    assert time.monotonic() - started >= 0.2  # a lower bound only: never depends on machine speed
