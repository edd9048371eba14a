"""``GET /metrics``: behind the ops token; counters move as a scenario runs; the backlog is read from the
database (issue 13 item 3). tests/cli/test_embedded.py scrapes a real ``seatsync serve`` in multiprocess mode."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.test_product import post, seat

TOKEN = "ops-token-for-metrics-0123"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, ops_token=TOKEN)


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_ops_token(client):
    response = client.get("/metrics")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0000000"}).status_code == 401


def test_without_an_ops_token_there_are_no_metrics(settings):
    from webhooks import create_app

    app = create_app(dataclasses.replace(settings, ops_token=None))
    assert app.test_client().get("/metrics").status_code == 404


def test_intake_counters_and_the_backlog_move_with_a_scenario(client):
    before = scrape(client)
    assert post(client, {"events": [seat("evt_m1", "ann"), seat("evt_m2", "bob")]}).status_code == 202
    assert post(client, {"events": [seat("evt_m1", "ann")]}).status_code == 202  # a resend
    assert post(client, {"events": [seat("evt_m3", occurred_at="yesterday")]}).status_code == 422
    assert post(client, {"events": [seat("evt_m4")]}, secret="whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
                ).status_code == 401
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("seatsync_intake_events_total", result="accepted") == 2
    assert moved("seatsync_intake_events_total", result="duplicate") == 1
    assert moved("seatsync_intake_rejected_total", reason="invalid-event") == 1  # the problem's type
    assert moved("seatsync_intake_rejected_total", reason="invalid-signature") == 1
    assert moved("seatsync_http_requests_total", method="POST", route="/webhooks/product", status="202") == 2
    assert moved("seatsync_http_request_duration_seconds_count", route="/webhooks/product") == 4
    # No worker runs here: the account waits for one (it is not linked, so the worker will only mark it
    # synced), and its oldest change ages.
    assert value(before, "seatsync_due_accounts") == 0 and value(after, "seatsync_due_accounts") == 1
    assert value(after, "seatsync_outbox_lag_seconds") >= 0
    assert value(after, "seatsync_database_bytes") > 0
    assert value(after, "seatsync_notifications", status="pending") >= 0


def test_the_newest_stored_reconcile_run_is_in_the_metrics(client, settings, db):
    from adapter.billing.policy import load_catalog
    from adapter.clock import now_us
    from adapter.reconcile import runs

    assert not any(name.startswith("seatsync_reconcile_") for name, _ in scrape(client))  # no run yet
    assert post(client, {"events": [seat("evt_r1", "ann", account="never-linked")]}).status_code == 202
    runs.run_and_store(db, load_catalog(settings.mappings), trigger="cli", owner="test", since_us=0,
                       until_us=now_us() + 1, now_us=now_us)
    samples = scrape(client)
    assert value(samples, "seatsync_reconcile_last_run_differences", kind="unlinked_seats") == 1
    assert value(samples, "seatsync_reconcile_last_run_age_seconds") >= 0
