"""RFC 9457 problem details for every error the HTTP layer answers.

Callers always get JSON naming what was wrong; never an HTML page, never a
stack trace. Unexpected exceptions are logged here and answered with a bare 500.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from adapter.logs import REQUEST_ID

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://seatsync.dev/problems/"


class Problem(Exception):
    """An error answered as ``application/problem+json``.

    ``errors`` lists ``{"field": ..., "reason": ...}`` pairs, the field being a
    JSON pointer into the request body (``/events/3/occurred_at``) or a header
    name, so the sender knows exactly what to fix.
    """

    def __init__(self, status: int, title: str, detail: str | None = None,
                 errors: list[dict] | None = None, slug: str | None = None):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.slug = slug or title.lower().replace(" ", "-")

    def to_dict(self) -> dict:
        body = {"type": PROBLEM_TYPE_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        request_id = REQUEST_ID.get()
        if request_id is not None:  # the id the response's X-Request-Id carries: quote it to find the log line
            body["request_id"] = request_id
        return body


def problem_response(problem: Problem, headers: dict | None = None) -> Response:
    response = Response(json.dumps(problem.to_dict()), status=problem.status,
                        mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        problem = Problem(exc.code or 500, exc.name, exc.description)
        response = problem_response(problem)
        valid_methods = getattr(exc, "valid_methods", None)  # werkzeug's MethodNotAllowed carries them
        if exc.code == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal Server Error",
                                        "The error was logged; nothing about it is exposed here."))
