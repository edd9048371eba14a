"""Ops pages over a sandbox-built month with two injected faults: bearer token, filters, sorting,
JSON/CSV from the same route, the account timeline, and a real headless Chromium loading the page."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import threading
from dataclasses import replace

import pytest
from werkzeug.serving import make_server

from tests.reconcile.test_stripe import (  # noqa: F401  (the ``world`` fixture)
    AFTER_RENEWAL,
    APRIL_16,
    advance,
    mirror,
    open_account,
    seat,
    stripe_price,
    world,
)

# The sandbox's test clocks stop at May 1 01:00 2026; the pages' clock is the wall clock. Reconciling
# up to "now" would rightly expect renewals the stopped clocks never billed, so the window ends on May 1.
UNTIL = "until=2026-05-01T02:00:00Z"
TOKEN = "ops-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def faulty(world):
    """Two accounts with one fault each (an unexpected manual line, an unpaid renewal) and a clean one.

    The test clocks are at May 1 01:00 2026, long before the wall clock these pages read, so the
    pages' window (from the beginning up to now) holds the whole scenario.
    """
    manual = open_account(world, "manual", "standard-monthly", ["a", "b", "c"])
    unpaid = open_account(world, "unpaid", "standard-monthly", ["a", "b", "c"])
    healthy = open_account(world, "healthy", "standard-monthly", ["a", "b", "c"])
    for name, account in (("manual", manual), ("unpaid", unpaid), ("healthy", healthy)):
        advance(world, account, APRIL_16)
        seat(world, name, "d", APRIL_16)
        world.worker.run_once()
    support = stripe_price(world.client, "Manual support fee", 1234)
    world.client.v1.subscriptions.update(manual.sub.id, {"items": [{"price": support.id, "quantity": 1}],
                                                         "proration_behavior": "none"})
    world.client.v1.customers.update(unpaid.customer.id,
                                     {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    for account in (manual, unpaid, healthy):
        advance(world, account, AFTER_RENEWAL)
    mirror(world)
    return world


def app_for(world, token=TOKEN):
    from webhooks import create_app

    app = create_app(replace(world.settings, ops_token=token))
    app.config["TESTING"] = True
    return app


def test_without_a_configured_token_the_pages_do_not_exist(faulty):
    client = app_for(faulty, token=None).test_client()
    response = client.get(f"/ops/reconciliation?{UNTIL}", headers=AUTH)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "SEATSYNC_OPS_TOKEN" in response.get_json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_without_the_bearer_token_the_answer_is_401_problem_json(faulty, headers):
    client = app_for(faulty).test_client()
    for path in (f"/ops/reconciliation?{UNTIL}", "/ops/accounts/manual"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["errors"][0]["field"] == "Authorization"


def test_reconciliation_html_json_and_csv_say_the_same(faulty):
    client = app_for(faulty).test_client()
    page = client.get(f"/ops/reconciliation?{UNTIL}", headers=AUTH)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert html.count('<tr class="difference"') == 2
    assert 'data-kind="unexpected_line" data-account="manual"' in html
    assert 'data-kind="invoice_unpaid" data-account="unpaid"' in html
    assert "healthy" not in html.split('<table id="differences">')[1]

    data = client.get(f"/ops/reconciliation?{UNTIL}&format=json", headers=AUTH).get_json()
    negotiated = client.get(f"/ops/reconciliation?{UNTIL}", headers={**AUTH, "Accept": "application/json"}).get_json()
    assert data == negotiated
    assert data["summary"]["accounts"] == 3 and data["summary"]["differences"] == 2
    assert data["summary"]["by_kind"] == {"invoice_unpaid": 1, "unexpected_line": 1}
    # Sorted by money at stake, largest first (the unpaid renewal is $32.50, the manual line $12.34).
    assert [d["account"] for d in data["differences"]] == ["unpaid", "manual"]
    ascending = client.get(f"/ops/reconciliation?{UNTIL}&format=json&sort=money_at_stake&order=asc",
                           headers=AUTH).get_json()
    assert [d["account"] for d in ascending["differences"]] == ["manual", "unpaid"]

    rows = list(csv.DictReader(io.StringIO(client.get(f"/ops/reconciliation?{UNTIL}&format=csv", headers=AUTH)
                                           .get_data(as_text=True))))
    assert sorted((r["account"], r["kind"], r["money_at_stake"]) for r in rows) == [
        ("manual", "unexpected_line", "1234"), ("unpaid", "invoice_unpaid", "3250")]

    only = client.get(f"/ops/reconciliation?{UNTIL}&format=json&kind=invoice_unpaid", headers=AUTH).get_json()
    assert [d["account"] for d in only["differences"]] == ["unpaid"]
    one = client.get(f"/ops/reconciliation?{UNTIL}&format=json&account=healthy", headers=AUTH).get_json()
    assert one["summary"]["accounts"] == 1 and one["differences"] == []


@pytest.mark.parametrize("query, field", [("kind=nonsense", "kind"), ("sort=drop", "sort"), ("order=up", "order"),
                                          ("period=2026-13", "period"), ("since=yesterday", "since"),
                                          ("format=xml", "format"), ("tolerance=-1", "tolerance"),
                                          ("account=nobody", "account")])
def test_bad_parameters_are_problems_naming_the_field(faulty, query, field):
    response = app_for(faulty).test_client().get(f"/ops/reconciliation?{UNTIL}&{query}", headers=AUTH)
    assert response.status_code in (400, 404)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"][0]["field"] == field


def test_the_account_page_answers_why_was_i_charged_x(faulty):
    client = app_for(faulty).test_client()
    data = client.get(f"/ops/accounts/manual?{UNTIL}&format=json", headers=AUTH).get_json()
    sources = {event["source"] for event in data["timeline"]}
    assert {"product", "seatsync call", "invoice"} <= sources
    [call] = [e for e in data["timeline"] if e["source"] == "seatsync call"]
    assert call["id"].startswith("seatsync:") and call["detail"].startswith("request ")
    assert [d["kind"] for d in data["differences"]] == ["unexpected_line"]
    # Expected against actual: the renewal's seat line is expected and billed; the manual line only billed.
    assert any(line["kind"] == "seats" and line["quantity"] == 4 for line in data["expected_lines"])
    verdicts = {line["amount"]: line["verdict"] for line in data["actual_lines"] if line["created"] > APRIL_16}
    assert verdicts.pop(1234) == "unexpected_line"
    assert set(verdicts.values()) == {"matches the policy"}
    html = client.get(f"/ops/accounts/manual?{UNTIL}", headers=AUTH).get_data(as_text=True)
    for table in ('id="differences"', 'id="timeline"', 'id="expected"', 'id="actual"'):
        assert table in html
    assert client.get("/ops/accounts/nobody", headers=AUTH).status_code == 404


class InjectAuthorization:
    """Test-only WSGI wrapper: a bare ``chromium --screenshot`` cannot send headers."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ["HTTP_AUTHORIZATION"] = AUTH["Authorization"]
        return self.app(environ, start_response)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_real_browser_shows_the_differences_table(faulty, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (CI installs it through .ci/run)")
    server = make_server("127.0.0.1", 0, InjectAuthorization(app_for(faulty)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/ops/reconciliation?{UNTIL}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--window-size=1280,900"]
    try:
        dom = subprocess.run([browser, *flags, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=90)
        shot = tmp_path / "reconciliation.png"
        subprocess.run([browser, *flags, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}",
                        url], capture_output=True, text=True, timeout=90)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert dom.stdout.count('class="difference"') == 2, dom.stderr[-2000:]
    assert "unexpected_line" in dom.stdout and "invoice_unpaid" in dom.stdout
    assert shot.exists()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000  # a rendered page, not a blank canvas
    keep = os.environ.get("SEATSYNC_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
