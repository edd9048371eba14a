"""Sandbox core: fault injection, webhook delivery, limiter, locks, control API."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time

import pytest
import requests
from flask import Flask, Response, jsonify

from tests.sandbox.core import (Faults, IdempotencyStore, ObjectLocks, SandboxConfigError,
                                SlidingWindowLimiter, StoredResponse, WebhookDispatcher, World)


def _app_with_faults(faults: Faults) -> Flask:
    app = Flask("faults_test")
    faults.register_provider(
        "prov",
        rate_limited=lambda: Response('{"error":"slow down"}', 429, mimetype="application/json"),
        server_error=lambda status: Response('{"error":"boom"}', status, mimetype="application/json"),
    )

    @app.get("/thing")
    def thing():
        failure = faults.maybe_fail("prov")
        return failure if failure is not None else jsonify(ok=True)

    return app


def _statuses(app: Flask, n: int) -> list[int]:
    client = app.test_client()
    return [client.get("/thing").status_code for _ in range(n)]


def test_fault_rates_are_deterministic_for_a_seed():
    first, second = Faults(), Faults()
    app1, app2 = _app_with_faults(first), _app_with_faults(second)
    for faults in (first, second):
        faults.configure("prov", rate_limit_rate=0.2, server_error_rate=0.2, server_error_status=503, seed=42)
    run1, run2 = _statuses(app1, 200), _statuses(app2, 200)
    assert run1 == run2
    assert {429, 503, 200} == set(run1)
    # With 200 draws the observed shares sit near the configured 20% each.
    assert 20 <= run1.count(429) <= 60 and 20 <= run1.count(503) <= 60


def test_different_seeds_fail_different_requests():
    a, b = Faults(), Faults()
    app_a, app_b = _app_with_faults(a), _app_with_faults(b)
    a.configure("prov", rate_limit_rate=0.5, seed=1)
    b.configure("prov", rate_limit_rate=0.5, seed=2)
    assert _statuses(app_a, 50) != _statuses(app_b, 50)


def test_fail_next_queues_exact_failures_then_stops():
    faults = Faults()
    app = _app_with_faults(faults)
    faults.fail_next("prov", "rate_limit", 2)
    faults.fail_next("prov", "server_error", 1)
    assert _statuses(app, 5) == [429, 429, 500, 200, 200]
    assert [f["kind"] for f in faults.injected] == ["rate_limit", "rate_limit", "server_error"]


def test_latency_and_sleep_timeout_use_the_injected_sleep():
    slept: list[float] = []
    faults = Faults(sleep=slept.append)
    app = _app_with_faults(faults)
    faults.configure("prov", latency_seconds=0.25, timeout_mode="sleep", timeout_seconds=40)
    faults.fail_next("prov", "timeout")
    assert _statuses(app, 2) == [504, 200]
    assert slept == [0.25, 40.0, 0.25]


@pytest.mark.parametrize("changes, field", [
    ({"rate_limit_rate": 1.5}, "rate_limit_rate"),
    ({"rate_limit_rate": True}, "rate_limit_rate"),
    ({"timeout_mode": "explode"}, "timeout_mode"),
    ({"server_error_status": 418}, "server_error_status"),
    ({"latency_seconds": -1}, "latency_seconds"),
    ({"bogus": 1}, "bogus"),
    ({"rate_limit_rate": 0.6, "server_error_rate": 0.6}, "rate_limit_rate"),
])
def test_bad_fault_settings_are_refused_and_change_nothing(changes, field):
    faults = Faults()
    faults.configure("prov", rate_limit_rate=0.1)
    with pytest.raises(SandboxConfigError) as info:
        faults.configure("prov", **changes)
    assert info.value.field == field
    assert faults.settings("prov")["rate_limit_rate"] == 0.1
    assert faults.settings("prov")["server_error_rate"] == 0.0


def test_sliding_window_limiter_with_a_fake_clock():
    now = [1000.0]
    limiter = SlidingWindowLimiter(limit=3, window=1.0, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b") is True  # keys are counted separately
    now[0] += 1.0
    assert limiter.allow("a") is True
    limiter.configure(None)
    assert all(limiter.allow("a") for _ in range(100))


def test_object_locks_refuse_a_second_writer_and_release():
    locks = ObjectLocks()
    assert locks.acquire("sub_1")
    assert not locks.acquire("sub_1")
    assert locks.acquire("sub_2")
    locks.release("sub_1")
    assert locks.acquire("sub_1")


def test_a_timed_hold_released_by_hand_does_not_release_the_next_holder():
    locks = ObjectLocks()
    assert locks.hold_for("sub_1", 0.05)
    locks.release("sub_1")  # released early, by hand
    assert locks.acquire("sub_1")  # a real writer takes it
    time.sleep(0.15)  # the cancelled timer must not fire and free the writer's lock
    assert not locks.acquire("sub_1")
    assert locks.hold_for("sub_2", 0.05)
    assert locks.acquire("sub_2", wait=10)  # an untouched hold expires on its own


def test_idempotency_store_keeps_the_first_response():
    store = IdempotencyStore()
    fp = store.fingerprint("POST", "/v1/x", {"a": "1"})
    assert fp == store.fingerprint("POST", "/v1/x", {"a": "1"})
    assert fp != store.fingerprint("POST", "/v1/x", {"a": "2"})
    store.put("stripe", "k", StoredResponse(fp, 200, b"first", {}))
    store.put("stripe", "k", StoredResponse(fp, 200, b"second", {}))
    assert store.get("stripe", "k").body == b"first"
    assert store.get("chargebee", "k") is None


# ---------------------------------------------------------------- webhooks


def _basic_signer(body: bytes) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(b"user:pass").decode()}


@pytest.fixture
def dispatcher():
    d = WebhookDispatcher()
    yield d
    d.stop()


def test_delivery_signs_and_posts_every_event(dispatcher, webhook_receiver):
    dispatcher.register("prov", webhook_receiver.url, signer=_basic_signer)
    for n in range(3):
        dispatcher.emit("prov", {"id": f"evt_{n}"})
    assert dispatcher.flush(5)
    got = webhook_receiver.accepted()
    assert [r["json"]["id"] for r in got] == ["evt_0", "evt_1", "evt_2"]
    assert all(r["headers"]["Authorization"] == "Basic dXNlcjpwYXNz" for r in got)
    assert [e["outcome"] for e in dispatcher.log] == ["delivered"] * 3


def test_failed_deliveries_retry_with_exponential_backoff_then_give_up(dispatcher, webhook_receiver):
    dispatcher.configure("prov", max_retries=2, backoff_seconds=0.01)
    dispatcher.register("prov", webhook_receiver.url, signer=_basic_signer)
    webhook_receiver.statuses = [500, 503]
    dispatcher.emit("prov", {"id": "evt_ok_on_third"})
    assert dispatcher.flush(5)
    assert [r["status"] for r in webhook_receiver.received] == [500, 503, 200]
    webhook_receiver.statuses = [500, 500, 500]
    dispatcher.emit("prov", {"id": "evt_never"})
    assert dispatcher.flush(5)
    never = [e for e in dispatcher.log if e["event_id"] == "evt_never"]
    assert [(e["attempt"], e["outcome"]) for e in never] == [(1, "failed"), (2, "failed"), (3, "failed"), (3, "gave_up")]


def test_unreachable_endpoint_is_a_failed_attempt(dispatcher):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    dispatcher.configure("prov", max_retries=1, backoff_seconds=0.0)
    dispatcher.register("prov", f"http://127.0.0.1:{dead}/hook", signer=_basic_signer)
    dispatcher.emit("prov", {"id": "evt_x"})
    assert dispatcher.flush(5)
    assert [e["outcome"] for e in dispatcher.log] == ["failed", "failed", "gave_up"]
    assert dispatcher.log[0]["error"]


def test_duplicates_drops_and_reordering_are_injected(dispatcher, webhook_receiver):
    dispatcher.register("prov", webhook_receiver.url, signer=_basic_signer)
    dispatcher.configure("prov", duplicate_rate=1.0)
    dispatcher.emit("prov", {"id": "evt_dup"})
    assert dispatcher.flush(5)
    assert [r["json"]["id"] for r in webhook_receiver.accepted()] == ["evt_dup", "evt_dup"]

    webhook_receiver.received.clear()
    dispatcher.configure("prov", duplicate_rate=0.0, drop_rate=1.0)
    dispatcher.emit("prov", {"id": "evt_lost"})
    assert dispatcher.flush(5)
    assert webhook_receiver.received == []
    assert dispatcher.log[-1]["outcome"] == "dropped"

    dispatcher.configure("prov", drop_rate=0.0, reorder_rate=1.0)
    dispatcher.emit("prov", {"id": "evt_first"})
    dispatcher.configure("prov", reorder_rate=0.0)
    dispatcher.emit("prov", {"id": "evt_second"})
    assert dispatcher.flush(5)
    assert [r["json"]["id"] for r in webhook_receiver.accepted()] == ["evt_second", "evt_first"]


def test_injection_is_deterministic_for_a_seed(webhook_receiver):
    outcomes = []
    for _ in range(2):
        d = WebhookDispatcher()
        d.configure("prov", duplicate_rate=0.3, drop_rate=0.3, seed=7)
        d.register("prov", webhook_receiver.url, signer=_basic_signer)
        for n in range(20):
            d.emit("prov", {"id": f"evt_{n}"})
        assert d.flush(5)
        outcomes.append(sorted((e["event_id"], e["outcome"], e["copy"]) for e in d.log))
        d.stop()
    assert outcomes[0] == outcomes[1]
    kinds = {o for _, o, _ in outcomes[0]}
    assert {"dropped", "delivered"} <= kinds


def test_reset_forgets_endpoints_and_log(dispatcher, webhook_receiver):
    dispatcher.register("prov", webhook_receiver.url, signer=_basic_signer)
    dispatcher.emit("prov", {"id": "evt_1"})
    assert dispatcher.flush(5)
    dispatcher.reset()
    assert dispatcher.log == [] and dispatcher.endpoints() == []
    dispatcher.emit("prov", {"id": "evt_2"})
    assert dispatcher.flush(5)
    assert len(webhook_receiver.received) == 1


# ------------------------------------------------------------- control API


def test_control_api_configures_faults_and_rejects_bad_input(sandbox):
    base = f"{sandbox.url}/_sandbox"
    r = requests.post(f"{base}/faults/stripe", json={"rate_limit_rate": 0.5, "seed": 3})
    assert r.status_code == 200 and r.json()["rate_limit_rate"] == 0.5
    r = requests.post(f"{base}/faults/stripe", json={"rate_limit_rate": "lots"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "rate_limit_rate"
    r = requests.post(f"{base}/faults/paypal", json={})
    assert r.status_code == 400 and r.json()["error"]["field"] == "provider"
    r = requests.post(f"{base}/faults/stripe", json={"fail_next": {"kind": "meteor"}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "fail_next.kind"
    assert requests.post(f"{base}/reset").json() == {"reset": True}
    assert requests.get(f"{base}/faults/stripe").json()["rate_limit_rate"] == 0.0


def test_control_api_webhook_settings_and_flush(sandbox):
    base = f"{sandbox.url}/_sandbox"
    r = requests.post(f"{base}/webhooks/stripe/settings", json={"duplicate_rate": 0.25, "max_retries": 1})
    assert r.status_code == 200 and r.json()["duplicate_rate"] == 0.25
    r = requests.post(f"{base}/webhooks/stripe/settings", json={"max_retries": -1})
    assert r.status_code == 400 and r.json()["error"]["field"] == "max_retries"
    r = requests.post(f"{base}/webhooks/stripe/endpoints", json={"secret": "whsec_x"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "url"
    assert requests.post(f"{base}/webhooks/flush", json={"timeout": 2}).json() == {"drained": True}
    assert requests.get(f"{base}/webhooks/log").json() == {"data": []}


def test_world_reset_clears_state_and_calls_hooks():
    world = World()
    called = []
    world.on_reset(lambda: called.append(True))
    world.faults.configure("prov", rate_limit_rate=0.3)
    world.idempotency.put("stripe", "k", StoredResponse("f", 200, b"", {}))
    world.reset()
    assert called == [True]
    assert world.idempotency.get("stripe", "k") is None
    assert world.faults.settings("prov")["rate_limit_rate"] == 0.0
    world.close()


def test_module_entry_point_serves_on_the_given_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.sandbox", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                r = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("sandbox did not start")
        assert r.status_code == 200 and r.json()["ok"] is True
        import stripe

        client = stripe.StripeClient("sk_test_x", base_addresses={"api": f"http://127.0.0.1:{port}"})
        assert client.v1.customers.create({"email": "cli@example.com"}).email == "cli@example.com"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_routing_errors_answer_json_in_the_shape_of_the_path_s_provider(sandbox):
    stripe_404 = requests.get(f"{sandbox.url}/v1/nowhere")
    assert stripe_404.status_code == 404 and stripe_404.json()["error"]["type"] == "invalid_request_error"
    stripe_405 = requests.delete(f"{sandbox.url}/v1/customers")
    assert stripe_405.status_code == 405 and stripe_405.json()["error"]["type"] == "invalid_request_error"
    control_404 = requests.get(f"{sandbox.url}/_sandbox/nowhere")
    assert control_404.status_code == 404 and control_404.json()["error"]["field"] == "path"
