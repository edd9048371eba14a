"""One logging setup for every seatsync process: serve, its gunicorn workers, the sync worker.

Records go to stderr, where systemd, Docker and a terminal all look. ``SEATSYNC_LOG_FORMAT=text`` (the
default) writes one human line per record; ``json`` writes one JSON object per line (python-json-logger),
with the record's ``extra`` fields as keys, for a log pipeline. Every record made while an HTTP request is
served carries that request's id (``request_id``), whatever module logged it: the id lives in a context
variable that the HTTP layer sets, and a filter on the handler copies it onto each record.
"""

from __future__ import annotations

import logging
import logging.config
import time
from contextvars import ContextVar
from typing import Any

from adapter.config import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("seatsync_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Copy the current request's id onto the record (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-03T06:15:02Z INFO    adapter.sync.account: message [request 4f1c…]``: UTC, so lines from
    several hosts sort together."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


QUIET_LIBRARIES = ("stripe", "chargebee", "httpx", "httpcore", "urllib3")


def dict_config(settings: Settings, *, access_log: bool = False) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``settings``; gunicorn takes the same as ``logconfig_dict``, so
    its own lines (start-up, worker exits, the access log) come out in the same format."""
    formatter: dict[str, Any] = {"()": TextFormatter}
    if settings.log_format == "json":
        formatter = {"()": "pythonjsonlogger.json.JsonFormatter",
                     "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
                     "rename_fields": {"levelname": "level", "name": "logger"},
                     "timestamp": True}
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"seatsync": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "seatsync", "filters": ["request_id"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        # gunicorn's loggers carry their own handlers by default; here they go through the root's.
        # webhooks.requests already logs every request (with its id), so gunicorn's access line is kept
        # only when SEATSYNC_ACCESS_LOG asks for it; the SDKs' and httpx's per-request INFO lines would
        # bury seatsync's own (adapter.sync.calls logs each provider write).
        "loggers": {"gunicorn.error": {"level": level, "handlers": [], "propagate": True},
                    "gunicorn.access": {"level": "INFO" if access_log else "WARNING", "handlers": [],
                                        "propagate": True},
                    **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES}},
    }


def configure(settings: Settings) -> None:
    """Install the setup in this process (``seatsync serve`` and ``seatsync worker`` call it first)."""
    logging.config.dictConfig(dict_config(settings))
    logging.captureWarnings(True)  # warnings get a time and a level like every other line
