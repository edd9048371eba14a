"""Which provider failures are worth retrying, and how long to wait.

Transient: rate limits (429, including Stripe's and Chargebee's
``lock_timeout``), 409 conflicts, 5xx, timeouts and connection errors. They
are retried with exponential backoff and full jitter, or after the provider's
``Retry-After`` when it sends one. Everything else (validation errors, an
unknown subscription, bad credentials) is permanent: retrying cannot help, so
the change goes to the dead-letter list with the provider's reason.

Both SDKs' own retries stay off (see providers/): stripe-python does not retry
limiter 429s and chargebee-python retries 429 without bound and ignores
Retry-After (reference/chargebee.md §7), so one policy lives here.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, TypeVar

import chargebee
import httpx
import stripe
import tenacity

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Failure:
    """A provider failure, normalised across SDKs."""

    transient: bool
    status: int | None
    code: str | None
    reason: str
    retry_after: float | None = None
    request_id: str | None = None


def classify(exc: BaseException) -> Failure:
    """Normalise a stripe, chargebee or transport exception."""
    if isinstance(exc, stripe.StripeError):
        return _classify_stripe(exc)
    if isinstance(exc, chargebee.APIError):
        status = exc.http_status_code
        return Failure(status in TRANSIENT_STATUSES, status, exc.api_error_code, str(exc) or exc.api_error_code or "chargebee error",
                       _retry_after(exc.http_headers))
    if isinstance(exc, (httpx.TimeoutException, httpx.TransportError, TimeoutError, ConnectionError)):
        return Failure(True, None, "connection_error", f"{type(exc).__name__}: {exc}")
    # chargebee-python raises a plain Exception for non-JSON error bodies,
    # with the status written into the message (http_request.map_plaintext_to_error).
    match = re.search(r"http_status_code:\s*(\d{3})", str(exc))
    if match:
        status = int(match.group(1))
        return Failure(status in TRANSIENT_STATUSES, status, None, str(exc).splitlines()[0])
    return Failure(False, None, type(exc).__name__, str(exc))


def _classify_stripe(exc: stripe.StripeError) -> Failure:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or exc.code
    status = exc.http_status
    headers = exc.headers or {}
    if isinstance(exc, stripe.APIConnectionError):
        transient = True
    elif isinstance(exc, stripe.IdempotencyError):
        # Same key, different parameters: a bug on our side, never fixed by waiting.
        transient = False
    else:
        transient = status in TRANSIENT_STATUSES
    return Failure(transient, status, code, exc.user_message or str(exc) or type(exc).__name__,
                   _retry_after(headers), headers.get("request-id"))


def _retry_after(headers) -> float | None:
    if not headers:
        return None
    value = None
    for name in ("Retry-After", "retry-after"):
        try:
            value = headers.get(name)
        except AttributeError:
            return None
        if value:
            break
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def is_transient(exc: BaseException) -> bool:
    return classify(exc).transient


class WaitRetryAfterOrJitter(tenacity.wait.wait_base):
    """Honour Retry-After when the provider sends it, else exponential backoff with full jitter."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None):
        self.initial = initial
        self.maximum = maximum
        self.rng = rng or random.Random()

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if exc is not None:
            retry_after = classify(exc).retry_after
            if retry_after is not None:
                return min(retry_after, self.maximum)
        ceiling = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return self.rng.uniform(0, ceiling)


def call_with_retries(fn: Callable[[], T], *, attempts: int = 6, initial: float = 0.5, maximum: float = 30.0,
                      sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> T:
    """Call ``fn``, retrying transient failures; the last failure is re-raised as is."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        wait=WaitRetryAfterOrJitter(initial, maximum, rng),
        stop=tenacity.stop_after_attempt(attempts),
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
