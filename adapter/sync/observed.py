"""One provider write attempt, logged and counted: what ops reads to see a seat change reach the provider.

Each attempt (first or retried) is one log line with the account, subscription, operation, quantity,
idempotency key, outcome, attempt number and duration, and it moves the provider-call metrics
(``adapter/metrics.py``). The line names the idempotency key, so a line in the log, a row in
``provider_calls`` and a request in the provider's dashboard can be matched up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from adapter import metrics
from adapter.providers.retry import classify
from adapter.providers.translate import CallSpec

log = logging.getLogger("adapter.sync.calls")


class Sender(Protocol):
    name: str

    def send(self, spec: CallSpec, idempotency_key: str) -> tuple[str | None, dict[str, Any]]: ...


def outcome_of(exc: BaseException) -> str:
    """The metric's outcome for a failed attempt: few values, whatever the provider's error code."""
    failure = classify(exc)
    if failure.status == 429:
        return "rate_limited"
    return "transient_error" if failure.transient else "permanent_error"


def observed_send(provider: Sender, spec: CallSpec, *, account: str, subscription: str,
                  idempotency_key: str) -> Callable[[], tuple[str | None, dict[str, Any]]]:
    """``provider.send(spec, idempotency_key)`` as a callable for ``call_with_retries`` that logs and counts
    every attempt it makes."""
    attempts = 0

    def send() -> tuple[str | None, dict[str, Any]]:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            metrics.PROVIDER_RETRIES.labels(provider.name).inc()
        started = time.perf_counter()
        fields: dict[str, Any] = {"provider": provider.name, "account": account, "subscription": subscription,
                                  "operation": spec.operation, "quantity": spec.quantity,
                                  "idempotency_key": idempotency_key, "attempt": attempts}
        try:
            request_id, response = provider.send(spec, idempotency_key)
        except Exception as exc:
            seconds = time.perf_counter() - started
            outcome = outcome_of(exc)
            _count(provider.name, spec.operation, outcome, seconds)
            failure = classify(exc)
            log.warning("%s %s for %s: %s (%s) after %.0f ms, attempt %d, key %s", spec.operation, subscription,
                        account, outcome, failure.reason, seconds * 1000, attempts, idempotency_key,
                        extra={**fields, "outcome": outcome, "error": failure.reason,
                               "duration_ms": round(seconds * 1000, 1)})
            raise
        seconds = time.perf_counter() - started
        _count(provider.name, spec.operation, "ok", seconds)
        quantity = f" quantity {spec.quantity}" if spec.quantity is not None else ""
        log.info("%s %s for %s:%s ok in %.0f ms, attempt %d, key %s, request %s", spec.operation, subscription,
                 account, quantity, seconds * 1000, attempts, idempotency_key, request_id,
                 extra={**fields, "outcome": "ok", "provider_request_id": request_id,
                        "duration_ms": round(seconds * 1000, 1)})
        return request_id, response

    return send


def _count(provider: str, operation: str, outcome: str, seconds: float) -> None:
    metrics.PROVIDER_CALLS.labels(provider, operation, outcome).inc()
    metrics.PROVIDER_CALL_SECONDS.labels(provider, operation).observe(seconds)
    if outcome == "rate_limited":
        metrics.PROVIDER_RATE_LIMITED.labels(provider).inc()
