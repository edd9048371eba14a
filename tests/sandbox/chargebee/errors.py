"""Chargebee's error shape: ``{message, type, api_error_code, param?}``.

Statuses and codes follow the reference (chargebee.md §6, SPECv1 error
schemas). The legacy ``error_code``/``error_msg``/``http_status_code`` fields
are included because real responses still carry them and chargebee-python
reads ``error_code``.
"""

from __future__ import annotations

import json

from flask import Response


class ChargebeeError(Exception):
    """Raised anywhere in the Chargebee half; rendered by the blueprint."""

    def __init__(self, status: int, api_error_code: str, message: str, *,
                 type: str = "invalid_request", param: str | None = None,
                 error_code: str | None = None, error_msg: str | None = None):
        super().__init__(message)
        self.status = status
        self.api_error_code = api_error_code
        self.message = message
        self.type = type
        self.param = param
        # The legacy fields; they repeat api_error_code and message unless a shape says otherwise.
        self.error_code = error_code or api_error_code
        self.error_msg = error_msg or message

    def body(self) -> dict:
        body = {"message": self.message, "type": self.type, "api_error_code": self.api_error_code,
                "error_code": self.error_code, "error_msg": self.error_msg,
                "http_status_code": self.status}
        if self.param is not None:
            body["param"] = self.param
        return body

    def response(self) -> Response:
        return Response(json.dumps(self.body()), status=self.status, mimetype="application/json")


def wrong_value(param: str, message: str) -> ChargebeeError:
    return ChargebeeError(400, "param_wrong_value", message, param=param)


def missing(param: str) -> ChargebeeError:
    """A required parameter not sent. The shape a live test site answered for one (quoted in
    chargebee/chargebee-python#54): ``{"message": "customer_id : cannot be blank", "type":
    "invalid_request", "api_error_code": "invalid_request", "param": "customer_id", "error_code":
    "param_required", "error_msg": "cannot be blank"...}`` (the quote breaks off inside error_msg)."""
    return ChargebeeError(400, "invalid_request", f"{param} : cannot be blank", param=param,
                          error_code="param_required", error_msg="cannot be blank")


def not_found(param: str, message: str) -> ChargebeeError:
    return ChargebeeError(404, "resource_not_found", message, param=param)


def invalid_state(message: str) -> ChargebeeError:
    return ChargebeeError(409, "invalid_state_for_request", message)


def rate_limited() -> ChargebeeError:
    return ChargebeeError(429, "api_request_limit_exceeded",
                          "Sorry, access has been blocked temporarily due to request count exceeding acceptable limits. "
                          "Please try after some time.", type="operation_failed")


def lock_timeout() -> ChargebeeError:
    return ChargebeeError(429, "lock_timeout",
                          "Multiple concurrent requests are being made to the same resource. Please try again.",
                          type="operation_failed")


def server_error(status: int) -> ChargebeeError:
    if status == 503:
        return ChargebeeError(503, "internal_temporary_error",
                              "Temporary error; can be retried with exponential backoff.", type="operation_failed")
    return ChargebeeError(status, "internal_error", "Sorry, something went wrong when trying to process the request.",
                          type="operation_failed")
