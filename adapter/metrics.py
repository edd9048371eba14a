"""seatsync's Prometheus metrics: what every process counts as it works.

Under gunicorn several processes serve requests and another runs the sync worker, so the counters live in
prometheus_client's multiprocess mode: each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up (``webhooks/metrics.py``). prometheus_client
reads that variable when it is first imported, so ``seatsync serve`` sets it before anything imports this
module. Without it (tests, one-off commands) the values are this process's own.

Counts of work done live here; what the database holds (outbox lag, due accounts, dead letters,
notifications, provider events waiting, the last reconcile run, file sizes) is read at scrape time
(``adapter/store/metrics.py``), so it is right whichever process did the work.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("seatsync_http_requests_total", "HTTP requests answered, by route and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("seatsync_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                         ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

INTAKE_EVENTS = Counter("seatsync_intake_events_total",
                        "Seat events in a committed batch: accepted (new) or duplicate (an id seen before).",
                        ["result"])
INTAKE_REJECTED = Counter("seatsync_intake_rejected_total",
                          "Product webhook requests refused, by reason (the problem's type).", ["reason"])

PROVIDER_CALLS = Counter("seatsync_provider_calls_total",
                         "Attempts of provider writes, by provider, operation and outcome (ok, or the failure).",
                         ["provider", "operation", "outcome"])
PROVIDER_CALL_SECONDS = Histogram("seatsync_provider_call_duration_seconds", "Time of one provider write attempt.",
                                  ["provider", "operation"],
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
PROVIDER_RETRIES = Counter("seatsync_provider_call_retries_total",
                           "Provider write attempts after the first for the same call.", ["provider"])
PROVIDER_RATE_LIMITED = Counter("seatsync_provider_rate_limited_total", "Provider answers 429 (rate limited).",
                                ["provider"])
DEAD_LETTERS = Counter("seatsync_dead_letters_total", "Provider calls dead-lettered (a permanent failure).",
                       ["provider"])

PROVIDER_EVENTS_RECEIVED = Counter("seatsync_provider_events_received_total",
                                   "Provider webhook events stored at receipt: new, or a duplicate delivery.",
                                   ["provider", "result"])
PROVIDER_EVENTS_APPLIED = Counter("seatsync_provider_events_applied_total",
                                  "Provider events processed by the worker, by outcome.", ["provider", "outcome"])
