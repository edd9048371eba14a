"""Chargebee sandbox reliability semantics through chargebee-python: idempotency,
rate limits, lock_timeout, injected faults, authentication and webhooks (reference §5, §6)."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from chargebee import APIError, Chargebee, InvalidRequestError, OperationFailedError

from tests.sandbox.chargebee.testing import SEAT, Site, ts


@pytest.fixture
def site(april) -> Site:
    """The conftest's April site (5 seats from Apr 1, day mode), on Apr 11 at 14:00. Overrides the plain
    ``site`` for this module; ``april`` still gets the conftest's."""
    april.travel(2026, 4, 11, 14)
    return april


def _update(site: Site, quantity: int, key: str | None):
    headers = {"chargebee-idempotency-key": key} if key else None
    return site.change("sub-acme", [(SEAT, quantity)], prorate=True, invoice_immediately=True, headers=headers)


def test_idempotency_key_replays_the_first_response(site):
    first = _update(site, 8, "sub-acme:8:evt_1")
    assert first.is_idempotency_replayed is False
    again = _update(site, 8, "sub-acme:8:evt_1")
    assert again.is_idempotency_replayed is True
    assert again.invoice.id == first.invoice.id and again.invoice.total == 2000
    assert again.subscription.resource_version == first.subscription.resource_version
    assert len(site.invoices("sub-acme")) == 2  # the first-term invoice and one proration invoice
    assert site.event_types().count("subscription_changed") == 1


def test_idempotency_key_with_a_different_body_is_422_and_changes_nothing(site):
    _update(site, 8, "sub-acme:key")
    with pytest.raises(InvalidRequestError) as mismatch:
        _update(site, 9, "sub-acme:key")
    assert (mismatch.value.http_status_code, mismatch.value.api_error_code) == (422, "unable_to_process_request")
    assert site.cb.Subscription.retrieve("sub-acme").subscription.subscription_items[0].quantity == 8


def test_idempotency_window_is_30_minutes_of_site_time(site):
    _update(site, 8, "k-window")
    site.travel(2026, 4, 11, 14, 31)
    later = _update(site, 8, "k-window")  # same body, key expired: a new request (no change, no charge)
    assert later.is_idempotency_replayed is False and later.invoice is None
    with pytest.raises(InvalidRequestError) as too_long:
        _update(site, 8, "k" * 101)
    assert too_long.value.param == "chargebee-idempotency-key"


def test_a_rejected_request_is_not_remembered_under_its_key(site):
    with pytest.raises(InvalidRequestError):
        _update(site, 0, "k-bad")
    assert _update(site, 6, "k-bad").invoice.total == 667  # 1 x 1000 x 20/30 = 666.67 -> 667


def test_rate_limit_answers_429_api_request_limit_exceeded(site):
    site.settings(rate_limit_per_minute=3)
    for _ in range(3):
        site.cb.Subscription.retrieve("sub-acme")
    with pytest.raises(OperationFailedError) as limited:
        site.cb.Subscription.retrieve("sub-acme")
    assert (limited.value.http_status_code, limited.value.api_error_code, limited.value.type) == \
        (429, "api_request_limit_exceeded", "operation_failed")
    assert site.control("settings", method="get")["rate_limit_per_minute"] == 3
    site.settings(rate_limit_per_minute=None)
    site.cb.Subscription.retrieve("sub-acme")


def test_the_default_rate_limit_is_150_per_minute(site):
    assert site.control("settings", method="get")["rate_limit_per_minute"] == 150


def test_concurrent_write_to_a_locked_subscription_is_429_lock_timeout(site):
    site.control("locks/subscriptions/sub-acme")
    try:
        with pytest.raises(OperationFailedError) as locked:
            _update(site, 8, "k-locked")
        assert (locked.value.http_status_code, locked.value.api_error_code) == (429, "lock_timeout")
        site.cb.Subscription.retrieve("sub-acme")  # reads are not blocked
    finally:
        site.control("locks/subscriptions/sub-acme", method="delete")
    assert _update(site, 8, "k-locked").invoice.total == 2000


def test_parallel_writes_to_one_subscription_never_double_apply(site):
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda n: _try_update(site, 8, f"k-par-{n}"), range(6)))
    assert all(o in ("ok", "lock_timeout") for o in outcomes) and "ok" in outcomes
    # Whatever interleaving happened, 5 -> 8 was charged once: later identical requests change nothing.
    proration = [inv for inv in site.invoices("sub-acme") if not inv.recurring]
    assert [inv.total for inv in proration] == [2000]


def _try_update(site: Site, quantity: int, key: str) -> str:
    try:
        _update(site, quantity, key)
        return "ok"
    except OperationFailedError as exc:
        return exc.api_error_code


def test_injected_faults_come_back_in_chargebee_shape(site):
    faults = f"{site.sandbox.url}/_sandbox/faults/chargebee"
    httpx.post(faults, json={"fail_next": {"kind": "server_error", "count": 1}}).raise_for_status()
    with pytest.raises(APIError) as server:
        site.cb.Subscription.retrieve("sub-acme")
    assert (server.value.http_status_code, server.value.api_error_code) == (500, "internal_error")
    httpx.post(faults, json={"server_error_status": 503, "fail_next": {"kind": "server_error"}}).raise_for_status()
    with pytest.raises(APIError) as unavailable:
        site.cb.Subscription.retrieve("sub-acme")
    assert (unavailable.value.http_status_code, unavailable.value.api_error_code) == (503, "internal_temporary_error")
    httpx.post(faults, json={"fail_next": {"kind": "rate_limit"}}).raise_for_status()
    with pytest.raises(OperationFailedError) as limited:
        _update(site, 8, "k-fault")
    assert limited.value.api_error_code == "api_request_limit_exceeded"
    # The faulted write never ran: the same key now executes for the first time.
    assert _update(site, 8, "k-fault").is_idempotency_replayed is False


def test_basic_auth_with_the_api_key(site):
    site.settings(api_key="test_sandbox")
    site.cb.Subscription.retrieve("sub-acme")
    Chargebee.verify_ca_certs = False
    stranger = Chargebee(api_key="wrong_key", site="127", chargebee_domain=f"0.0.1:{site.sandbox.port}",
                         protocol="http")
    with pytest.raises(APIError) as denied:
        stranger.Subscription.retrieve("sub-acme")
    assert (denied.value.http_status_code, denied.value.api_error_code) == (401, "api_authentication_failed")
    anonymous = httpx.get(f"{site.sandbox.url}/api/v2/subscriptions/sub-acme")
    assert anonymous.status_code == 401 and anonymous.json()["api_error_code"] == "api_authentication_failed"


def test_control_api_rejects_bad_settings_and_changes_nothing(site):
    response = httpx.post(f"{site.sandbox.url}/_sandbox/chargebee/settings",
                          json={"billing_mode": "day", "rounding": "ROUND_SOMETIMES"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "rounding"
    response = httpx.post(f"{site.sandbox.url}/_sandbox/chargebee/settings", json={"billing_mode": "hourly"})
    assert response.json()["error"] == {"field": "billing_mode", "reason": "must be 'millisecond' or 'day'"}
    response = httpx.post(f"{site.sandbox.url}/_sandbox/chargebee/settings", json={"timezone": "Mars/Olympus"})
    assert response.json()["error"]["field"] == "timezone"
    assert site.control("settings", method="get")["rounding"] == "ROUND_HALF_UP"


def test_webhooks_are_delivered_with_basic_auth_and_deserialize(site, webhook_receiver):
    endpoint = httpx.post(f"{site.sandbox.url}/_sandbox/webhooks/chargebee/endpoints",
                          json={"url": webhook_receiver.url, "username": "hook", "password": "s3cret"})
    assert endpoint.status_code == 201
    webhook_receiver.statuses = [500]  # the first delivery fails and is retried
    site.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    site.travel(2026, 5, 1, 6)
    drained = httpx.post(f"{site.sandbox.url}/_sandbox/webhooks/flush", json={"timeout": 10}).json()
    assert drained == {"drained": True}
    accepted = webhook_receiver.accepted()
    expected = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    assert {r["headers"]["Authorization"] for r in accepted} == {expected}
    types = [r["json"]["event_type"] for r in accepted]
    assert {"unbilled_charges_created", "subscription_changed", "subscription_renewed", "invoice_generated",
            "payment_succeeded", "unbilled_charges_invoiced"} <= set(types)
    assert len(webhook_receiver.received) == len(accepted) + 1  # one retried delivery
    changed = next(r for r in accepted if r["json"]["event_type"] == "subscription_changed")
    event = site.cb.Event.deserialize(changed["body"].decode())
    assert (event.api_version, event.source, event.occurred_at) == ("v2", "api", ts(2026, 4, 11, 14))
    assert event.content["subscription"]["subscription_items"][0]["quantity"] == 8
    assert event.content["unbilled_charges"][0]["amount"] == 2000
    assert site.cb.Event.retrieve(event.id).event.webhook_status == "succeeded"
    retried = json.loads(webhook_receiver.received[0]["body"])
    assert site.cb.Event.retrieve(retried["id"]).event.webhook_status == "succeeded"  # after its retry
    renewed = next(r["json"] for r in accepted if r["json"]["event_type"] == "subscription_renewed")
    # 8 x 1000 + the 2000 unbilled charge swept into the renewal.
    assert (renewed["source"], renewed["content"]["invoice"]["total"]) == ("scheduled_job", 10000)
    assert json.loads(changed["body"])["object"] == "event"


def test_unknown_paths_answer_in_chargebee_shape(site):
    response = httpx.get(f"{site.sandbox.url}/api/v2/plans/old-style", auth=("test_sandbox", ""))
    assert response.status_code == 404
    assert response.json()["api_error_code"] == "resource_not_found"
    wrong_method = httpx.delete(f"{site.sandbox.url}/api/v2/subscriptions/sub-acme", auth=("test_sandbox", ""))
    assert wrong_method.status_code == 404 and wrong_method.json()["type"] == "invalid_request"
