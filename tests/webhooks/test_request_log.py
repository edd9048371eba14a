"""Every request: an id (the caller's or a new one) echoed in the response and problem bodies, and one log
line with method, route, status and duration; records made meanwhile carry the id (issue 13 item 2)."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from adapter.config import Settings
from adapter.logs import REQUEST_ID, dict_config
from tests.webhooks.test_product import post, seat


def test_a_sane_caller_id_is_kept_and_echoed(client, caplog):
    caplog.set_level(logging.INFO, logger="webhooks.requests")
    response = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.42"})
    assert response.headers["X-Request-Id"] == "lb-7f3a.42"
    [record] = [r for r in caplog.records if r.name == "webhooks.requests"]
    assert (record.method, record.route, record.status) == ("GET", "/healthz", 200)
    assert record.request_id == "lb-7f3a.42" and record.duration_ms >= 0


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "quote\"d"])
def test_a_missing_or_unsafe_id_is_replaced(client, given):
    headers = {} if given is None else {"X-Request-Id": given}
    echoed = client.get("/healthz", headers=headers).headers["X-Request-Id"]
    assert echoed != given and len(echoed) == 32 and int(echoed, 16) >= 0


def test_a_problem_body_names_the_request_id_of_its_response(client, caplog):
    caplog.set_level(logging.INFO, logger="webhooks.requests")
    response = post(client, {"events": [seat(occurred_at="not a time")]}, headers={"X-Request-Id": "req-1"})
    assert response.status_code == 422
    assert response.get_json()["request_id"] == "req-1" == response.headers["X-Request-Id"]
    [record] = [r for r in caplog.records if r.name == "webhooks.requests"]
    assert (record.route, record.status) == ("/webhooks/product", 422)


def test_an_unknown_route_is_logged_without_a_route(client, caplog):
    caplog.set_level(logging.INFO, logger="webhooks.requests")
    assert client.get("/nowhere").status_code == 404
    [record] = [r for r in caplog.records if r.name == "webhooks.requests"]
    assert record.route == "(no route)" and record.path == "/nowhere"
    assert REQUEST_ID.get() is None  # the id does not leak past its request


def _emit(settings: Settings, extra: dict) -> str:
    stream = io.StringIO()
    config = dict_config(settings)
    config["handlers"]["stderr"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        token = REQUEST_ID.set("req-9")
        try:
            logging.getLogger("adapter.sync.calls").info("stripe update sub_1 ok", extra=extra)
        finally:
            REQUEST_ID.reset(token)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    return stream.getvalue()


def test_json_lines_carry_the_records_fields():
    line = _emit(Settings(log_format="json"), {"account": "acme", "idempotency_key": "k1", "attempt": 2})
    record = json.loads(line)
    assert record["message"] == "stripe update sub_1 ok" and record["level"] == "INFO"
    assert record["logger"] == "adapter.sync.calls" and record["request_id"] == "req-9"
    assert (record["account"], record["idempotency_key"], record["attempt"]) == ("acme", "k1", 2)
    assert record["timestamp"].endswith("+00:00")


def test_text_lines_have_a_utc_time_a_level_and_the_request():
    line = _emit(Settings(), {"account": "acme"})
    assert line.rstrip().endswith("adapter.sync.calls: stripe update sub_1 ok [request req-9]")
    assert line[:20].endswith("Z") and " INFO " in line


def test_the_log_settings_are_validated():
    from adapter.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SEATSYNC_LOG_FORMAT"):
        load_settings({"SEATSYNC_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="SEATSYNC_LOG_LEVEL"):
        load_settings({"SEATSYNC_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        load_settings({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/metrics"})
