"""``GET /metrics``: Prometheus text, behind the ops token like the ops pages.

Counters and histograms come from every process through prometheus_client's multiprocess files
(``adapter/metrics.py``); the backlog gauges are read from the database on each scrape
(``adapter/store/metrics.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from adapter.clock import now_us
from adapter.store import metrics as store_metrics

from .db import get_db
from .ops import require_token

bp = Blueprint("metrics", __name__)
bp.before_request(require_token)


class BacklogCollector(Collector):
    """The database's backlog as gauges, read when scraped."""

    def __init__(self, backlog: store_metrics.Backlog):
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        b = self.backlog
        yield GaugeMetricFamily("seatsync_due_accounts", "Accounts whose seat changes wait for the sync worker.",
                                value=b.due_accounts)
        yield GaugeMetricFamily("seatsync_outbox_lag_seconds", "Age of the oldest seat change not yet at its provider.",
                                value=b.outbox_lag_seconds)
        yield GaugeMetricFamily("seatsync_dead_letters_open", "Dead-lettered provider calls not retried yet.",
                                value=b.open_dead_letters)
        events = GaugeMetricFamily("seatsync_provider_events", "Provider events waiting or failed in the worker.",
                                   labels=["status"])
        for status, count in b.provider_events.items():
            events.add_metric([status], count)
        yield events
        yield GaugeMetricFamily("seatsync_provider_event_lag_seconds", "Age of the oldest provider event not applied.",
                                value=b.provider_event_lag_seconds)
        notifications = GaugeMetricFamily("seatsync_notifications", "Product notifications pending or failed.",
                                          labels=["status"])
        for status, count in b.notifications.items():
            notifications.add_metric([status], count)
        yield notifications
        yield GaugeMetricFamily("seatsync_database_bytes", "Size of the SQLite database file.", value=b.database_bytes)
        yield GaugeMetricFamily("seatsync_wal_bytes", "Size of the SQLite write-ahead log.", value=b.wal_bytes)
        yield from self._last_run()

    def _last_run(self) -> Iterator[Metric]:
        b = self.backlog
        if b.last_run_age_seconds is None:
            return
        yield GaugeMetricFamily("seatsync_reconcile_last_run_age_seconds", "Age of the newest stored reconcile run.",
                                value=b.last_run_age_seconds)
        differences = GaugeMetricFamily("seatsync_reconcile_last_run_differences",
                                        "Differences the newest stored reconcile run found, by kind.", labels=["kind"])
        for kind, count in sorted(b.last_run_differences.items()):
            differences.add_metric([kind], count)
        yield differences
        money = GaugeMetricFamily("seatsync_reconcile_last_run_money_minor_units",
                                  "Net money of the newest run's differences, by kind and currency, in the currency's "
                                  "minor unit (receivables are the invoice_unpaid kind).", labels=["kind", "currency"])
        for (kind, currency), amount in sorted(b.last_run_money.items()):
            money.add_metric([kind, currency], amount)
        yield money


@bp.get("/metrics")
def metrics() -> Response:
    settings = current_app.config["SEATSYNC"]
    backlog = store_metrics.backlog(get_db(), str(settings.database), now_us())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(BacklogCollector(backlog))
    response = Response(generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST  # text/plain; version=…: the exposition format
    return response


class _ProcessMetrics(Collector):
    """This process's own metrics (no multiprocess folder): the default registry, minus nothing."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
