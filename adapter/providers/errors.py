"""Provider failures, normalised: which are transient, what the provider said, when to retry.

Transient: rate limits (429, including Stripe's and Chargebee's
``lock_timeout``), 409 conflicts, 5xx, timeouts and connection errors.
Everything else (validation errors, an unknown subscription, bad credentials)
is permanent: retrying cannot help, so the change goes to the dead-letter list
with the provider's reason. ``adapter/retry.py`` decides how long to wait.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import chargebee
import httpx
import stripe

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
        return Failure(status in TRANSIENT_STATUSES, status, exc.api_error_code,
                       str(exc) or exc.api_error_code or "chargebee error", _retry_after(exc.http_headers))
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
