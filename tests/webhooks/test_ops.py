"""Ops pages over a sandbox-built month with two injected faults: bearer token, filters, sorting,
JSON/CSV from the same route, the account timeline, and a real headless Chromium loading the page.

``/ops/reconciliation`` reads the worker's stored run (issue 11 item 2): the ``faulty`` world has one, made by
the worker's scheduled run on a clock stopped where the sandbox's test clocks are; the page never runs a
reconcile over every account (``reconcile.reconcile`` is made to raise where that is checked)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime

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

# The sandbox's test clocks stop at May 1 01:00 2026; the wall clock is later. Reconciling up to the wall
# clock's "now" would rightly expect renewals the stopped clocks never billed, so the worker that stores the
# run runs on a clock stopped at May 1 02:00, and its window (from the beginning up to its now) ends there.
UNTIL = "until=2026-05-01T02:00:00Z"
WORKER_NOW_US = int(datetime(2026, 5, 1, 2, tzinfo=UTC).timestamp()) * 1_000_000
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
    store_scheduled_run(world)
    return world


def store_scheduled_run(world) -> int:
    """What the worker's reconcile thread does when the interval has passed: run and store."""
    from adapter.sync.worker import Worker

    worker = Worker(world.settings, catalog=world.catalog, providers={}, now_us=lambda: WORKER_NOW_US)
    run_id = worker.run_reconcile_if_due()
    assert run_id is not None
    return run_id


def no_full_reconcile(monkeypatch):
    """From here on a reconcile over every account fails the test; one account's (``account=``) may run."""
    import adapter.reconcile
    import adapter.reconcile.report
    import adapter.reconcile.runs

    real = adapter.reconcile.reconcile

    def only_one_account(*args, **kwargs):
        if kwargs.get("account") is None:
            raise AssertionError("the page ran a full reconcile inside a request")
        return real(*args, **kwargs)

    for module in (adapter.reconcile, adapter.reconcile.report, adapter.reconcile.runs):
        monkeypatch.setattr(module, "reconcile", only_one_account)


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


def test_reconciliation_html_json_and_csv_say_the_same(faulty, monkeypatch):
    no_full_reconcile(monkeypatch)
    client = app_for(faulty).test_client()
    page = client.get("/ops/reconciliation", headers=AUTH)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="run">Stored run 1 (scheduled), finished' in html and 'id="run-age"' in html
    # The stored run's window (the worker's clock), picked again by naming it.
    assert client.get(f"/ops/reconciliation?{UNTIL}", headers=AUTH).get_data(as_text=True).count(
        '<tr class="difference"') == 2
    assert html.count('<tr class="difference"') == 2
    assert 'data-kind="unexpected_line" data-account="manual"' in html
    assert 'data-kind="invoice_unpaid" data-account="unpaid"' in html
    assert "healthy" not in html.split('<table id="differences">')[1]

    data = client.get("/ops/reconciliation?format=json", headers=AUTH).get_json()
    negotiated = client.get("/ops/reconciliation", headers={**AUTH, "Accept": "application/json"}).get_json()
    assert data == negotiated
    assert data["summary"]["accounts"] == 3 and data["summary"]["differences"] == 2
    assert data["summary"]["until"] == "2026-05-01T02:00:00Z"
    assert data["run"]["id"] == 1 and data["run"]["trigger"] == "scheduled" and data["run"]["age_seconds"] >= 0
    assert data["run"]["totals"] == {"by_kind": {"invoice_unpaid": 1, "unexpected_line": 1},
                                     "money_at_stake": {"USD": 1234}, "receivables": {"USD": 3250}}
    assert data["summary"]["by_kind"] == {"invoice_unpaid": 1, "unexpected_line": 1}
    # Sorted by money at stake, largest first (the unpaid renewal is $32.50, the manual line $12.34).
    assert [d["account"] for d in data["differences"]] == ["unpaid", "manual"]
    ascending = client.get("/ops/reconciliation?format=json&sort=money_at_stake&order=asc",
                           headers=AUTH).get_json()
    assert [d["account"] for d in ascending["differences"]] == ["manual", "unpaid"]

    rows = list(csv.DictReader(io.StringIO(client.get("/ops/reconciliation?format=csv", headers=AUTH)
                                           .get_data(as_text=True))))
    assert sorted((r["account"], r["kind"], r["money_at_stake"]) for r in rows) == [
        ("manual", "unexpected_line", "1234"), ("unpaid", "invoice_unpaid", "3250")]

    only = client.get("/ops/reconciliation?format=json&kind=invoice_unpaid", headers=AUTH).get_json()
    assert [d["account"] for d in only["differences"]] == ["unpaid"]
    # One account is checked live (cheap): not the stored run.
    one = client.get(f"/ops/reconciliation?{UNTIL}&format=json&account=healthy", headers=AUTH).get_json()
    assert one["summary"]["accounts"] == 1 and one["differences"] == [] and "run" not in one
    manual = client.get(f"/ops/reconciliation?{UNTIL}&account=manual", headers=AUTH).get_data(as_text=True)
    assert 'id="live"' in manual and manual.count('<tr class="difference"') == 1


def test_a_window_with_no_stored_run_is_a_404_naming_it(faulty, monkeypatch):
    no_full_reconcile(monkeypatch)
    client = app_for(faulty).test_client()
    for query, field in (("period=2026-04", "period"), ("until=2026-04-20T00:00:00Z", "until"),
                         ("tolerance=5", "tolerance")):
        response = client.get(f"/ops/reconciliation?format=json&{query}", headers=AUTH)
        assert response.status_code == 404 and response.mimetype == "application/problem+json", query
        assert response.get_json()["errors"][0]["field"] == field


def test_before_any_run_is_stored_the_page_says_so(faulty, monkeypatch):
    faulty.db.execute("DELETE FROM reconcile_run_differences")
    faulty.db.execute("DELETE FROM reconcile_runs")
    no_full_reconcile(monkeypatch)
    client = app_for(faulty).test_client()
    page = client.get("/ops/reconciliation", headers=AUTH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="no-run"' in html and "No reconciliation run is stored yet" in html
    assert '<tr class="difference"' not in html
    as_json = client.get("/ops/reconciliation?format=json", headers=AUTH)
    assert as_json.status_code == 404 and as_json.get_json()["type"].endswith("no-reconcile-run")


def test_a_newer_stored_run_replaces_the_one_shown(faulty, monkeypatch):
    from adapter.reconcile import runs

    # The manual line is credited away at the provider's mirror: the next run finds one difference fewer.
    faulty.db.execute("DELETE FROM mirror_invoice_lines WHERE amount = 1234")
    second = runs.run_and_store(faulty.db, faulty.catalog, trigger="cli", owner="test", since_us=0,
                                until_us=WORKER_NOW_US, now_us=lambda: WORKER_NOW_US)
    no_full_reconcile(monkeypatch)
    data = app_for(faulty).test_client().get("/ops/reconciliation?format=json", headers=AUTH).get_json()
    assert data["run"]["id"] == second and data["summary"]["by_kind"] == {"invoice_unpaid": 1}


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

@contextlib.contextmanager
def chromium_on(app, width: int = 1280):
    """A real server for ``app`` on a free port and a Playwright page in Debian's chromium (no browser
    download); yields (page, base URL). A missing chromium fails in CI and skips elsewhere."""
    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (CI installs it through .ci/run)")
    from playwright.sync_api import sync_playwright

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=browser_path,
                                                  args=["--disable-gpu", "--disable-dev-shm-usage"])
            try:
                yield chromium.new_page(viewport={"width": width, "height": 900}), \
                    f"http://127.0.0.1:{server.server_port}"
            finally:
                chromium.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)



def test_a_real_browser_shows_the_stored_runs_differences_table(faulty, tmp_path, monkeypatch):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (CI installs it through .ci/run)")
    no_full_reconcile(monkeypatch)  # the page reads the scheduled run the fixture's worker stored
    server = make_server("127.0.0.1", 0, InjectAuthorization(app_for(faulty)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/ops/reconciliation"
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
    assert 'id="run">Stored run 1 (scheduled), finished' in dom.stdout
    assert "2026-05-01T02:00:00Z" in dom.stdout  # the stored run's window, not the wall clock's now
    assert shot.exists()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000  # a rendered page, not a blank canvas
    keep = os.environ.get("SEATSYNC_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_a_real_browser_signs_in_follows_the_overview_to_the_run_and_signs_out(faulty, tmp_path, monkeypatch):
    """Issue 14: Playwright drives Debian's chromium (no browser download) through the sign-in form, the
    overview, its link to the reconciliation page and the sign-out, as an operator would."""
    no_full_reconcile(monkeypatch)
    with chromium_on(app_for(faulty)) as (page, base):
        page.goto(f"{base}/ops/")
        assert page.url == f"{base}/ops/login?next=/ops/"  # signed out: sent to the sign-in
        page.fill("#token", "not-the-ops-token-0000")
        with page.expect_response(lambda r: r.request.method == "POST") as wrong:
            page.click("#sign-in")
        assert wrong.value.status == 401 and "not the ops token" in page.inner_text("#error")
        page.fill("#token", TOKEN)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/ops/")
        cookie = next(c for c in page.context.cookies() if c["name"] == "seatsync_ops")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
        assert page.inner_text("#dead-letters") == "0"
        assert page.inner_text("#last-run").startswith("run 1 (scheduled), finished")
        totals = page.inner_text("#totals")
        assert "12.34 USD\nat stake" in totals and "32.50 USD\nreceivable" in totals
        assert page.locator("tr.account").count() == 3
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        page.click("#reconciliation-link")
        page.wait_for_url(f"{base}/ops/reconciliation")
        assert page.locator("tr.difference").count() == 2
        page.screenshot(path=str(tmp_path / "reconciliation.png"), full_page=True)
        page.click("#logout")
        page.wait_for_url(f"{base}/ops/login")
        assert page.locator("#login").is_visible()
        page.goto(f"{base}/ops/reconciliation")
        assert page.url.startswith(f"{base}/ops/login?next=")  # signed out again
    for name in ("overview.png", "reconciliation.png"):
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
