"""Product notifications: queued once per key, signed with Standard Webhooks, retried, logged.

Deliveries go over real HTTP to a receiver on 127.0.0.1 (``webhook_receiver``);
time is a counter, never the wall clock.
"""

from dataclasses import replace

import pytest
from standardwebhooks import Webhook

from adapter import store
from adapter.callbacks import notify
from tests.conftest import ROTATED_SECRET

CALLBACK_SECRET = ROTATED_SECRET


class Clock:
    def __init__(self, us=1_800_000_000_000_000):
        self.us = us

    def __call__(self):
        return self.us

    def advance(self, seconds):
        self.us += int(seconds * 1_000_000)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def callback_settings(settings, webhook_receiver):
    return replace(settings, product_callback_url=webhook_receiver.url, product_callback_secret=CALLBACK_SECRET)


def queue_failed_payment(db, clock, invoice="in_1", account="acct_acme"):
    return notify.enqueue_notification(
        db, "invoice.payment_failed", account,
        {"provider": "stripe", "invoice": invoice, "subscription": "sub_1", "amount_due": 8000, "currency": "usd"},
        dedupe_key=f"stripe:invoice.payment_failed:{invoice}", at_us=clock())


def test_delivery_is_signed_and_verifies_with_the_product_secret(db, callback_settings, webhook_receiver, clock):
    queue_failed_payment(db, clock)
    report = notify.deliver_due_notifications(db, callback_settings, clock=clock)
    assert report.delivered == 1
    [received] = webhook_receiver.accepted()
    headers = {k.lower(): v for k, v in received["headers"].items()}
    payload = Webhook(CALLBACK_SECRET).verify(received["body"], headers)
    assert payload["type"] == "invoice.payment_failed"
    assert payload["data"] == {"account": "acct_acme", "provider": "stripe", "invoice": "in_1",
                               "subscription": "sub_1", "amount_due": 8000, "currency": "usd"}
    [row] = store.delivery_rows(db)
    assert headers["webhook-id"] == row["msg_id"]
    assert row["status"] == "delivered" and row["attempts"] == 1
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(received["body"], headers)


def test_the_same_key_queues_once(db, clock):
    assert queue_failed_payment(db, clock) is not None
    assert queue_failed_payment(db, clock) is None
    assert len(store.delivery_rows(db)) == 1
    # Without a key, identical arguments are still one notification.
    data = {"subscription": "sub_1", "expected": 5, "actual": 7}
    assert notify.enqueue_notification(db, "seats.drift_detected", "acct_acme", data) is not None
    assert notify.enqueue_notification(db, "seats.drift_detected", "acct_acme", data) is None


def test_unknown_type_is_refused(db):
    with pytest.raises(ValueError):
        notify.enqueue_notification(db, "invoice.exploded", "a", {})


def test_failures_are_retried_on_the_schedule_and_logged(db, callback_settings, webhook_receiver, clock):
    webhook_receiver.statuses = [500, 503]
    [delivery_id] = [queue_failed_payment(db, clock)]
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).retrying == 1
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).retrying == 0  # not due yet
    clock.advance(notify.RETRY_SCHEDULE_SECONDS[0])
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).retrying == 1
    clock.advance(notify.RETRY_SCHEDULE_SECONDS[1] - 1)
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).delivered == 0
    clock.advance(1)
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).delivered == 1
    attempts = store.delivery_attempt_rows(db, delivery_id)
    assert [a["status"] for a in attempts] == [500, 503, 200]
    ids = {{k.lower(): v for k, v in r["headers"].items()}["webhook-id"] for r in webhook_receiver.received}
    assert len(ids) == 1  # one message id across retries, so the product can deduplicate


def test_gone_stops_at_once_and_cli_retry_resends(db, callback_settings, webhook_receiver, clock):
    webhook_receiver.statuses = [410]
    delivery_id = queue_failed_payment(db, clock)
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).failed == 1
    assert store.delivery_row(db, delivery_id)["status"] == "failed"
    clock.advance(10**6)
    assert notify.deliver_due_notifications(db, callback_settings, clock=clock).delivered == 0
    assert notify.retry_delivery(db, callback_settings, delivery_id, clock=clock).delivered == 1
    assert store.delivery_row(db, delivery_id)["status"] == "delivered"
    assert notify.retry_delivery(db, callback_settings, delivery_id, clock=clock).delivered == 0  # nothing to do


def test_schedule_exhausted_means_failed(db):
    response = notify.Response(500)
    outcomes = [notify.next_attempt(n, response, 0)[0] for n in range(1, len(notify.RETRY_SCHEDULE_SECONDS) + 2)]
    assert outcomes == ["pending"] * len(notify.RETRY_SCHEDULE_SECONDS) + ["failed"]
    assert notify.next_attempt(1, notify.Response(429, retry_after=3600), 0) == ("pending", 3600 * 1_000_000)
    assert notify.next_attempt(1, notify.Response(None, error="refused"), 0) == ("pending", 5 * 1_000_000)


def test_unreachable_receiver_is_a_logged_failed_attempt(db, settings, clock):
    unreachable = replace(settings, product_callback_url="http://127.0.0.1:9/hook",
                          product_callback_secret=CALLBACK_SECRET)
    delivery_id = queue_failed_payment(db, clock)
    assert notify.deliver_due_notifications(db, unreachable, clock=clock).retrying == 1
    [attempt] = store.delivery_attempt_rows(db, delivery_id)
    assert attempt["status"] is None and attempt["error"]


def test_nothing_is_sent_without_a_callback_url(db, settings, clock):
    queue_failed_payment(db, clock)
    assert notify.deliver_due_notifications(db, settings, clock=clock) == notify.DeliveryReport()
    assert store.delivery_rows(db)[0]["status"] == "pending"


def test_account_is_filled_in_when_the_subscription_arrives_later(db, callback_settings, webhook_receiver, clock):
    from adapter.callbacks import mirror
    from tests.fixtures import load

    notify.enqueue_notification(
        db, "invoice.payment_failed", None, {"provider": "stripe", "invoice": "in_9", "subscription": "sub_1Q2w3e4r"},
        dedupe_key="k", at_us=clock())
    mirror.save_subscription(db, load("stripe/subscription.json"), provider="stripe", version=1)
    notify.deliver_due_notifications(db, callback_settings, clock=clock)
    [received] = webhook_receiver.accepted()
    assert received["json"]["data"]["account"] == "acct_acme"
    assert store.delivery_rows(db)[0]["account"] == "acct_acme"


def test_a_redirect_is_a_failed_delivery_not_followed(db, settings, clock):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(("POST", self.path))
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            hits.append(("GET", self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        redirecting = replace(settings, product_callback_url=f"http://127.0.0.1:{server.server_port}/hook",
                              product_callback_secret=CALLBACK_SECRET)
        delivery_id = queue_failed_payment(db, clock)
        assert notify.deliver_due_notifications(db, redirecting, clock=clock).retrying == 1
        assert hits == [("POST", "/hook")]
        assert store.delivery_attempt_rows(db, delivery_id)[0]["status"] == 302
    finally:
        server.shutdown()
        server.server_close()
