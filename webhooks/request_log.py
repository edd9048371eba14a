"""Every request gets an id and one log line: method, route, status, duration.

The id is the caller's ``X-Request-Id`` when it is a sane token (a proxy or the product may have set
one, so one id follows a request across systems), else a new one. It is echoed in the response's
``X-Request-Id``, put in problem bodies (``webhooks/problems.py``) and on every log record made while
the request is served (``adapter.logs.REQUEST_ID``).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from adapter import metrics
from adapter.logs import REQUEST_ID

log = logging.getLogger("webhooks.requests")
HEADER = "X-Request-Id"
# Printable ASCII without spaces or quotes, at most 128 characters: safe in a header and a log line.
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get(HEADER, "")
        g.seatsync_request_id = given if ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
        g.seatsync_request_token = REQUEST_ID.set(g.seatsync_request_id)
        g.seatsync_request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("seatsync_request_id")
        if request_id is None:  # failed before _start ran (a 413 while reading the body, say)
            return response
        response.headers[HEADER] = request_id
        duration_ms = round((time.perf_counter() - g.seatsync_request_started) * 1000, 1)
        route = request.url_rule.rule if request.url_rule is not None else "(no route)"
        metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(route).observe(duration_ms / 1000)
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        log.log(level, "%s %s %d in %.1f ms", request.method, request.path, response.status_code, duration_ms,
                extra={"request_id": request_id, "method": request.method, "route": route, "path": request.path,
                       "status": response.status_code, "duration_ms": duration_ms})
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("seatsync_request_token", None)
        if token is not None:
            REQUEST_ID.reset(token)
