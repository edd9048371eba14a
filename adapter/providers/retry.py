"""Retrying transient provider failures: exponential backoff with full jitter, or Retry-After.

Both SDKs' own retries stay off: stripe-python does not retry limiter 429s,
and chargebee-python retries 429 without bound and ignores Retry-After
(docs/chargebee.md#sdk-retries, docs/stripe.md#sdk-retries), so one policy lives here.
What counts as transient is ``adapter.providers.errors.classify``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from adapter.providers.errors import Failure, classify

T = TypeVar("T")

__all__ = ["Failure", "classify", "is_transient", "call_with_retries", "WaitRetryAfterOrJitter"]


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
