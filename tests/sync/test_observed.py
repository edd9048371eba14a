"""Each provider write attempt is one log line and moves the call metrics (issue 13 items 2 and 3)."""

from __future__ import annotations

import logging

import pytest
import stripe
from prometheus_client import REGISTRY

from adapter.providers.retry import call_with_retries
from adapter.providers.translate import CallSpec
from adapter.sync.observed import observed_send

SPEC = CallSpec("quantity", "subscription_items.update", "si_1", {"quantity": 11}, quantity=11)


class FlakySender:
    """Answers 429 ``fail`` times, then succeeds, as Stripe's limiter does under a burst."""

    name = "stripe"

    def __init__(self, fail: int, error: Exception | None = None):
        self.fail, self.error, self.keys = fail, error, []

    def send(self, spec, idempotency_key):
        self.keys.append(idempotency_key)
        if len(self.keys) <= self.fail:
            raise self.error or stripe.RateLimitError("Request rate limit exceeded.", http_status=429)
        return "req_ok", {"id": "si_1", "quantity": spec.quantity}


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_rate_limited_then_accepted_call_is_two_lines_and_counted(caplog):
    caplog.set_level(logging.INFO, logger="adapter.sync.calls")
    labels = {"provider": "stripe", "operation": SPEC.operation}
    before = {outcome: sample("seatsync_provider_calls_total", **labels, outcome=outcome)
              for outcome in ("ok", "rate_limited")}
    retries, limited = sample("seatsync_provider_call_retries_total", provider="stripe"), \
        sample("seatsync_provider_rate_limited_total", provider="stripe")
    sender = FlakySender(fail=1)
    send = observed_send(sender, SPEC, account="acme", subscription="sub_1", idempotency_key="sub_1:v3:0")
    assert call_with_retries(send, sleep=lambda _: None) == ("req_ok", {"id": "si_1", "quantity": 11})
    assert sender.keys == ["sub_1:v3:0", "sub_1:v3:0"]  # the same key: the provider replays, never applies twice
    assert sample("seatsync_provider_calls_total", **labels, outcome="ok") - before["ok"] == 1
    assert sample("seatsync_provider_calls_total", **labels, outcome="rate_limited") - before["rate_limited"] == 1
    assert sample("seatsync_provider_call_retries_total", provider="stripe") - retries == 1
    assert sample("seatsync_provider_rate_limited_total", provider="stripe") - limited == 1
    first, second = [r for r in caplog.records if r.name == "adapter.sync.calls"]
    assert first.levelno == logging.WARNING and (first.outcome, first.attempt) == ("rate_limited", 1)
    assert second.levelno == logging.INFO and (second.outcome, second.attempt) == ("ok", 2)
    assert (second.account, second.subscription, second.idempotency_key, second.quantity) == \
        ("acme", "sub_1", "sub_1:v3:0", 11)
    assert "quantity 11 ok" in second.getMessage() and second.provider_request_id == "req_ok"


def test_a_permanent_failure_is_counted_once_and_raised():
    labels = {"provider": "stripe", "operation": SPEC.operation, "outcome": "permanent_error"}
    before = sample("seatsync_provider_calls_total", **labels)
    error = stripe.InvalidRequestError("No such subscription item: 'si_1'", "id", http_status=404)
    send = observed_send(FlakySender(fail=9, error=error), SPEC, account="acme", subscription="sub_1",
                         idempotency_key="k")
    with pytest.raises(stripe.InvalidRequestError):
        call_with_retries(send, sleep=lambda _: None)
    assert sample("seatsync_provider_calls_total", **labels) - before == 1
