"""Failure classification and waiting, on the SDKs' own exception types."""

import random

import chargebee
import httpx
import pytest
import stripe

from adapter.providers.retry import call_with_retries, classify


def stripe_error(cls, status, code=None, headers=None, message="boom"):
    body = {"error": {"type": "invalid_request_error", "message": message, **({"code": code} if code else {})}}
    headers = headers or {"request-id": "req_1"}
    if cls is stripe.InvalidRequestError:
        return cls(message, None, http_status=status, json_body=body, headers=headers, code=code)
    return cls(message, http_status=status, json_body=body, headers=headers)


def chargebee_error(cls, status, code, headers=None):
    return cls(status, {"message": "m", "type": "operation_failed", "api_error_code": code}, headers or {})


@pytest.mark.parametrize(
    "exc, transient, code",
    [
        (stripe_error(stripe.RateLimitError, 429, "lock_timeout"), True, "lock_timeout"),
        (stripe_error(stripe.RateLimitError, 429, "rate_limit"), True, "rate_limit"),
        (stripe_error(stripe.APIError, 500), True, None),
        (stripe_error(stripe.APIError, 503), True, None),
        (stripe.APIConnectionError("connection reset"), True, None),
        (stripe_error(stripe.InvalidRequestError, 400, "parameter_unknown"), False, "parameter_unknown"),
        (stripe_error(stripe.InvalidRequestError, 404, "resource_missing"), False, "resource_missing"),
        (stripe_error(stripe.IdempotencyError, 400, "idempotency_error"), False, "idempotency_error"),
        (stripe_error(stripe.AuthenticationError, 401), False, None),
        (chargebee_error(chargebee.OperationFailedError, 429, "api_request_limit_exceeded"), True,
         "api_request_limit_exceeded"),
        (chargebee_error(chargebee.OperationFailedError, 429, "lock_timeout"), True, "lock_timeout"),
        (chargebee_error(chargebee.APIError, 503, "internal_temporary_error"), True, "internal_temporary_error"),
        (chargebee_error(chargebee.InvalidRequestError, 400, "param_wrong_value"), False, "param_wrong_value"),
        (chargebee_error(chargebee.InvalidRequestError, 404, "resource_not_found"), False, "resource_not_found"),
        (chargebee_error(chargebee.InvalidRequestError, 422, "unable_to_process_request"), False,
         "unable_to_process_request"),
        (httpx.ReadTimeout("timed out"), True, "connection_error"),
        (httpx.ConnectError("refused"), True, "connection_error"),
        (Exception("Sorry ... \n type: internal_error, \n http_status_code: 502, \n error_code: x"), True, None),
        (ValueError("a bug"), False, "ValueError"),
    ],
)
def test_classification(exc, transient, code):
    failure = classify(exc)
    assert failure.transient is transient
    assert failure.code == code


def test_stripe_request_id_is_kept_for_the_dead_letter():
    assert classify(stripe_error(stripe.InvalidRequestError, 400)).request_id == "req_1"


def test_retry_after_is_honoured_then_success():
    waits = []
    attempts = iter([stripe_error(stripe.RateLimitError, 429, headers={"Retry-After": "7"}), None])

    def call():
        exc = next(attempts)
        if exc:
            raise exc
        return "ok"

    assert call_with_retries(call, sleep=waits.append) == "ok"
    assert waits == [7.0]


def test_chargebee_retry_after_header_is_read_from_http_headers():
    exc = chargebee_error(chargebee.OperationFailedError, 429, "api_request_limit_exceeded", {"retry-after": "3"})
    assert classify(exc).retry_after == 3.0


def test_backoff_is_exponential_with_full_jitter_and_bounded():
    waits = []

    def always_503():
        raise stripe_error(stripe.APIError, 503)

    with pytest.raises(stripe.APIError):
        call_with_retries(always_503, attempts=6, initial=0.5, maximum=4.0, sleep=waits.append, rng=random.Random(1))
    assert len(waits) == 5
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings))


def test_permanent_failure_is_not_retried():
    calls = []

    def invalid():
        calls.append(1)
        raise stripe_error(stripe.InvalidRequestError, 400, "parameter_unknown")

    with pytest.raises(stripe.InvalidRequestError):
        call_with_retries(invalid, sleep=lambda s: None)
    assert len(calls) == 1
