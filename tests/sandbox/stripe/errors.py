"""Errors in Stripe's shape: ``{"error": {"type", "code", "message", "param"}}``."""

from __future__ import annotations

import json

from flask import Response


class StripeError(Exception):
    """Raised anywhere in a handler; the blueprint answers it as Stripe would.

    ``stored`` says whether an idempotency key keeps this answer: Stripe saves
    results once execution began (payment declines, 404s, 500s) but not
    validation failures or concurrency conflicts, which may be retried.
    """

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, stored: bool = True, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.stored = stored
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}

    def response(self) -> Response:
        return Response(json.dumps(self.body()), self.status, mimetype="application/json", headers=self.headers)

    @classmethod
    def unknown_parameter(cls, param: str) -> "StripeError":
        return cls(400, "invalid_request_error", f"Received unknown parameter: {param}",
                   code="parameter_unknown", param=param, stored=False)

    @classmethod
    def invalid(cls, message: str, *, param: str | None = None) -> "StripeError":
        return cls(400, "invalid_request_error", message, code="parameter_invalid",
                   param=param, stored=False)

    @classmethod
    def missing(cls, param: str) -> "StripeError":
        return cls(400, "invalid_request_error", f"Missing required param: {param}.",
                   code="parameter_missing", param=param, stored=False)

    @classmethod
    def no_such(cls, kind: str, object_id: str, param: str = "id") -> "StripeError":
        return cls(404, "invalid_request_error", f"No such {kind}: '{object_id}'",
                   code="resource_missing", param=param)

    @classmethod
    def state(cls, message: str, *, param: str | None = None) -> "StripeError":
        return cls(400, "invalid_request_error", message, param=param)

    @classmethod
    def rate_limited(cls, reason: str) -> "StripeError":
        return cls(429, "invalid_request_error",
                   "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                   code="rate_limit", stored=False, headers={"Stripe-Rate-Limited-Reason": reason})

    @classmethod
    def lock_timeout(cls) -> "StripeError":
        # No Stripe-Rate-Limited-Reason header: that is how a lock timeout is told apart
        # from a limiter 429; Stripe-Should-Retry lets stripe-python's own retries
        # handle it (reference §6).
        return cls(429, "invalid_request_error",
                   "This object cannot be accessed right now because another API request or Stripe "
                   "process is currently accessing it. If you see this error intermittently, retry the "
                   "request. If you see this error frequently and are making multiple concurrent requests "
                   "to a single object, make your requests serially or at a lower rate.",
                   code="lock_timeout", stored=False, headers={"Stripe-Should-Retry": "true"})
