"""Ops actions from the pages (issue 14 item 6): each a POST with a CSRF token, recorded in the audit trail
whatever its result, and shown on the account page. Re-push is checked end to end: a quantity changed at
the provider behind seatsync's back is put back by the sync worker after the button is pressed."""

from __future__ import annotations

import re

from adapter import accounts, store
from tests.webhooks.test_ops import (  # noqa: F401  (the ``faulty`` fixture)
    TOKEN,
    app_for,
    faulty,
    world,  # noqa: F401
)

BROWSER = {"Accept": "text/html"}


def signed_in_client(world):
    client = app_for(world).test_client()
    form = client.get("/ops/login", headers=BROWSER).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/ops/login", data={"csrf_token": csrf, "token": TOKEN}, headers=BROWSER).status_code == 303
    return client


def form_token(html: str, action: str) -> str:
    match = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>\s*<input type="hidden" '
                      r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no form posting to {action}"
    return match.group(1)


def test_re_push_puts_back_a_quantity_changed_at_the_provider_and_is_audited(faulty):
    world = faulty
    link = accounts.get_account(world.db, "healthy")
    subscription = world.client.v1.subscriptions.retrieve(link.subscription)
    seat_price = world.catalog.plans[link.plan].seat.price_id
    seat_item = next(i for i in subscription["items"]["data"] if i.price.id == seat_price)
    assert seat_item.quantity == 4
    world.client.v1.subscription_items.update(seat_item.id, {"quantity": 9, "proration_behavior": "none"})

    client = signed_in_client(world)
    page = client.get("/ops/accounts/healthy", headers=BROWSER).get_data(as_text=True)
    assert 'id="repush"' in page and "No action yet." in page
    response = client.post("/ops/accounts/healthy/repush",
                           data={"csrf_token": form_token(page, "/ops/accounts/healthy/repush")}, headers=BROWSER)
    assert response.status_code == 303 and response.headers["Location"].endswith("/ops/accounts/healthy#audit")
    assert world.client.v1.subscription_items.retrieve(seat_item.id).quantity == 9  # the button only made it due
    world.worker.run_once()
    assert world.client.v1.subscription_items.retrieve(seat_item.id).quantity == 4

    (row,) = store.ops_audit_rows(world.db, account="healthy")
    assert (row["action"], row["result"]) == ("repush", "done")
    assert row["actor"].startswith("session signed in at ") and row["address"]
    page = client.get("/ops/accounts/healthy", headers=BROWSER).get_data(as_text=True)
    assert '<tr class="audit" data-action="repush" data-result="done">' in page


def test_an_action_without_the_csrf_token_is_refused_and_nothing_is_recorded(faulty):
    client = signed_in_client(faulty)
    response = client.post("/ops/accounts/healthy/repush", data={}, headers=BROWSER)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    forged = client.post("/ops/accounts/healthy/repush", data={"csrf_token": "forged"}, headers=BROWSER)
    assert forged.status_code == 400
    assert store.ops_audit_rows(faulty.db) == []


def test_refused_actions_are_recorded_with_why(faulty):
    client = signed_in_client(faulty)
    page = client.get("/ops/accounts/manual", headers=BROWSER).get_data(as_text=True)
    token = form_token(page, "/ops/accounts/manual/repush")
    assert client.post("/ops/dead-letters/999/retry", data={"csrf_token": token, "account": "manual"},
                       headers=BROWSER).headers["Location"].endswith("/ops/accounts/manual#audit")
    assert client.post("/ops/deliveries/999/resend", data={"csrf_token": token}, headers=BROWSER).status_code == 303
    assert client.post("/ops/accounts/nobody/repush", data={"csrf_token": token}, headers=BROWSER).status_code == 404
    rows = store.ops_audit_rows(faulty.db)
    assert [(r["action"], r["result"], r["target"]) for r in rows] == [
        ("resend_delivery", "refused", "999"), ("retry_dead_letter", "refused", "999")]
    assert rows[1]["account"] == "manual" and "no open dead letter" in rows[1]["detail"]


def test_a_real_browser_searches_an_account_reads_its_chart_and_re_pushes_a_drift(faulty, tmp_path):
    """Issue 14 item 8: Playwright with Debian's chromium: sign in, search the accounts, open one, check the
    chart's three series against the data, press re-push (confirming the dialog) on a drifted account and see
    the drift gone once the worker has run."""
    from tests.webhooks.test_ops import chromium_on

    world = faulty
    link = accounts.get_account(world.db, "healthy")
    seat_price = world.catalog.plans[link.plan].seat.price_id
    seat_item = next(i for i in world.client.v1.subscriptions.retrieve(link.subscription)["items"]["data"]
                     if i.price.id == seat_price)
    world.client.v1.subscription_items.update(seat_item.id, {"quantity": 9, "proration_behavior": "none"})
    with chromium_on(app_for(world), width=1366) as (page, base):
        page.goto(f"{base}/ops/accounts")
        page.fill("#token", TOKEN)
        page.click("#sign-in")
        page.wait_for_url(f"{base}/ops/accounts")
        page.fill("input[name=q]", "heal")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(f"{base}/ops/accounts?q=heal*")
        assert page.locator("tr.account").count() == 1
        page.click("tr.account a")
        page.wait_for_url(f"{base}/ops/accounts/healthy")
        series = {p.get_attribute("data-series"): p.get_attribute("data-points")
                  for p in page.locator("#seats-chart path.series").all()}
        assert set(series) == {"ledger", "pushed", "provider"}
        assert [int(point.split(":")[1]) for point in series["ledger"].split(",")] == [3, 4]
        assert page.locator("#seats-chart path.series.ledger").bounding_box()["width"] > 600  # drawn
        page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#repush")
        page.wait_for_url(f"{base}/ops/accounts/healthy#audit")
        assert page.locator('tr.audit[data-action="repush"][data-result="done"]').count() == 1
        assert world.client.v1.subscription_items.retrieve(seat_item.id).quantity == 9
        world.worker.run_once()
        assert world.client.v1.subscription_items.retrieve(seat_item.id).quantity == 4  # drift gone
        page.click("#logout")
        page.wait_for_url(f"{base}/ops/login")
    png = (tmp_path / "account.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_run_reconcile_now_is_a_request_the_worker_serves_once(faulty):
    from adapter.sync.worker import Worker
    from tests.webhooks.test_ops import WORKER_NOW_US

    world = faulty
    worker = Worker(world.settings, catalog=world.catalog, providers={}, now_us=lambda: WORKER_NOW_US)
    assert worker.run_reconcile_if_due() is None  # the fixture's run is younger than the interval
    client = signed_in_client(world)
    page = client.get("/ops/reconciliation", headers=BROWSER).get_data(as_text=True)
    response = client.post("/ops/reconcile", data={"csrf_token": form_token(page, "/ops/reconcile")},
                           headers=BROWSER)
    assert response.status_code == 303 and response.headers["Location"].endswith("/ops/reconciliation")
    page = client.get("/ops/reconciliation", headers=BROWSER).get_data(as_text=True)
    assert 'id="reconcile-requested"' in page and "disabled" in page
    again = client.post("/ops/reconcile", data={"csrf_token": form_token(page, "/ops/reconcile")}, headers=BROWSER)
    assert again.status_code == 303  # refused while one waits, and recorded
    run_id = worker.run_reconcile_if_due()
    assert run_id is not None and worker.run_reconcile_if_due() is None  # served once
    page = client.get("/ops/reconciliation", headers=BROWSER).get_data(as_text=True)
    assert f'id="run">Stored run {run_id} (scheduled)' in page and 'id="reconcile-requested"' not in page
    rows = store.ops_audit_rows(world.db)
    assert [(r["action"], r["result"]) for r in rows] == [("reconcile_now", "refused"), ("reconcile_now", "done")]
    overview = client.get("/ops/", headers=BROWSER).get_data(as_text=True)
    assert overview.count('<tr class="audit" data-action="reconcile_now"') == 2
