"""Issue 11 item 5, clocks: a provider's clock (a Stripe test clock, the Chargebee time machine) may be ahead of
the wall clock, and then renewals, invoices and seat changes dated past the wall clock exist. ``seatsync
reconcile`` with no window reaches each account's provider clock (and never exits 2 for them), the drift check
reads the ledger at the provider's clock, and the worker's scheduled run and the ops page take the same rule.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from click.testing import CliRunner

from adapter import accounts, reconcile, store
from adapter.callbacks import backfill
from adapter.cli.main import cli
from adapter.clock import SECOND_US, format_us
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.reconcile import runs
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.reconcile.test_stripe import world  # noqa: F401  (stripe_world)
from tests.support.sandbox_fixtures import stripe_customer_on_clock

DAY = 86400


def iso(seconds: int) -> str:
    return format_us(seconds * SECOND_US)


def worker_for(settings: Settings, catalog) -> Worker:
    return Worker(settings, catalog=catalog,
                  config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))


def send(db, catalog, *events):
    record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))


def linked(db, catalog, account, provider, subscription, plan, at):
    send(db, catalog,
         {"id": f"{account}-link", "type": "account.linked", "account": account, "occurred_at": iso(at),
          "provider": provider, "subscription": subscription, "plan": plan},
         {"id": f"{account}-snap", "type": "account.seats_snapshot", "account": account, "occurred_at": iso(at),
          "users": ["a", "b", "c"]})


def cli_reconcile(monkeypatch, settings: Settings, *args):
    monkeypatch.setenv("SEATSYNC_DATABASE", str(settings.database))
    monkeypatch.setenv("SEATSYNC_MAPPINGS", str(settings.mappings))
    if settings.stripe_api_key:
        monkeypatch.setenv("STRIPE_API_KEY", settings.stripe_api_key)
        monkeypatch.setenv("STRIPE_API_BASE", settings.stripe_api_base)
    if settings.chargebee_api_key:
        monkeypatch.setenv("CHARGEBEE_SITE", settings.chargebee_site)
        monkeypatch.setenv("CHARGEBEE_API_KEY", settings.chargebee_api_key)
        monkeypatch.setenv("CHARGEBEE_API_BASE", settings.chargebee_api_base)
    return CliRunner().invoke(cli, ["reconcile", *args])


# ---------------------------------------------------------------- Stripe: a test clock ahead of the wall clock


@pytest.fixture
def stripe_world(world):
    """tests/reconcile/test_stripe.py's world: provisioned prices, settings, database, catalogue, a worker
    with no coalescing delay, and the Stripe client."""
    return world


def stripe_account(world, account: str, start: int):
    """A standard-monthly subscription on its own test clock frozen at ``start``, linked then with 3 seats."""
    plan = world.catalog.plans["standard-monthly"]
    clock, customer = stripe_customer_on_clock(world.client, start)
    items = [{"price": plan.seat.price_id, "quantity": 3}]
    if plan.base_fee:
        items.append({"price": plan.base_fee.price_id, "quantity": 1})
    sub = world.client.v1.subscriptions.create({"customer": customer.id, "items": items})
    linked(world.db, world.catalog, account, "stripe", sub.id, "standard-monthly", start)
    world.worker.run_once()
    return clock


def advance(world, clock, to: int):
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": to})


def mirror(db, settings, provider):
    for _ in backfill.run(db, settings, provider):
        pass


def stripe_month_ahead(world) -> tuple[int, int]:
    """A seat added 10 days past the wall clock (synced on the test clock), then the clock 32 days ahead of
    the wall clock: the renewal's invoice is dated in the wall clock's future. Returns (wall now, clock)."""
    now = int(time.time())
    clock = stripe_account(world, "ahead", now - DAY)
    advance(world, clock, now + 10 * DAY)
    send(world.db, world.catalog, {"id": "ahead-d", "type": "seat.activated", "account": "ahead",
                                   "occurred_at": iso(now + 10 * DAY), "user": "d"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1  # the provider's clock has reached the change: it is pushed, dated then
    advance(world, clock, now + 32 * DAY)
    mirror(world.db, world.settings, "stripe")
    return now, now + 32 * DAY


def test_stripe_reconcile_without_a_window_reaches_the_test_clock(stripe_world, monkeypatch):
    now, frozen = stripe_month_ahead(stripe_world)
    result = cli_reconcile(monkeypatch, stripe_world.settings, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The window runs to the provider's clock: the renewal 29-31 days past the wall clock is checked, and the
    # seat added 10 days past it is no drift (the ledger is read at the test clock, where the provider is).
    assert report["summary"]["until"] == iso(frozen)
    assert report["summary"]["invoices"] >= 1 and report["summary"]["actual_lines"] >= 3, report
    assert report["differences"] == [], report

    # A difference past the wall clock is found too: the provider's quantity changed behind seatsync's back.
    seat_item = next(i for i in stripe_world.client.v1.subscriptions.list({"limit": 1}).data[0].to_dict()
                     ["items"]["data"])["id"]
    stripe_world.client.v1.subscription_items.update(seat_item, {"quantity": 9, "proration_behavior": "none"})
    mirror(stripe_world.db, stripe_world.settings, "stripe")
    drifted = cli_reconcile(monkeypatch, stripe_world.settings, "--format", "json")
    assert drifted.exit_code == 1, drifted.output
    [difference] = json.loads(drifted.stdout)["differences"]
    assert (difference["kind"], difference["expected_quantity"], difference["actual_quantity"]) == (
        "seat_drift", 4, 9)


def test_stripe_link_past_the_wall_clock_is_no_error(stripe_world, monkeypatch):
    """An account linked at its test clock's time, days past the wall clock: nothing to exit 2 for."""
    now = int(time.time())
    clock = stripe_account(stripe_world, "early", now + 5 * DAY)
    advance(stripe_world, clock, now + 40 * DAY)
    mirror(stripe_world.db, stripe_world.settings, "stripe")
    result = cli_reconcile(monkeypatch, stripe_world.settings)
    assert result.exit_code == 0, result.output
    assert "found    0 differences" in result.stdout and "1 invoices" in result.stdout, result.stdout


def test_an_explicit_until_keeps_its_rule_and_an_explicit_since_may_be_past_the_wall_clock(stripe_world,
                                                                                          monkeypatch):
    now, frozen = stripe_month_ahead(stripe_world)
    # --until beyond every clock: the window still ends at the provider's clock (what has happened).
    beyond = json.loads(cli_reconcile(monkeypatch, stripe_world.settings, "--until", iso(frozen + 90 * DAY),
                                      "--format", "json").stdout)
    assert beyond["summary"]["until"] == iso(frozen) and beyond["differences"] == []
    # --since past the wall clock, before the test clock: a window, not "after now".
    since = cli_reconcile(monkeypatch, stripe_world.settings, "--since", iso(now + 20 * DAY), "--format", "json")
    assert since.exit_code == 0, since.output
    assert json.loads(since.stdout)["summary"]["invoices"] >= 1
    # --since past every clock is still refused.
    after = cli_reconcile(monkeypatch, stripe_world.settings, "--since", iso(frozen + DAY))
    assert after.exit_code == 2 and "is after now" in after.output


def test_the_scheduled_run_and_a_library_call_take_the_provider_clock(stripe_world):
    now, frozen = stripe_month_ahead(stripe_world)
    # The library without a clock reader: the wall clock, as before (the seat past it looks like drift).
    wall = reconcile.reconcile(stripe_world.db, stripe_world.catalog, since_us=0, until_us=None)
    assert [d.kind for d in wall.differences] == ["seat_drift"]
    from adapter.providers import registry
    from adapter.reconcile.clocks import provider_clocks

    clocks = provider_clocks(stripe_world.db, registry.seat_clients(stripe_world.settings))
    report = reconcile.reconcile(stripe_world.db, stripe_world.catalog, since_us=0, until_us=None, clock=clocks)
    assert report.differences == [] and report.until_us == frozen * SECOND_US and report.invoices >= 1

    settings = dataclasses.replace(stripe_world.settings, reconcile_interval=3600.0)
    run_id = worker_for(settings, stripe_world.catalog).run_reconcile_if_due()
    stored = runs.stored(stripe_world.db, store.reconcile_run(stripe_world.db, run_id))
    assert stored.row["until_us"] == frozen * SECOND_US
    assert stored.report.differences == [] and stored.report.invoices == report.invoices


def test_the_ops_account_check_takes_the_provider_clock(stripe_world):
    from webhooks import create_app

    now, frozen = stripe_month_ahead(stripe_world)
    app = create_app(dataclasses.replace(stripe_world.settings, ops_token="ops-token-0123456789abcdef"))
    app.config["TESTING"] = True
    auth = {"Authorization": "Bearer ops-token-0123456789abcdef"}
    with app.test_client() as client:
        one = client.get("/ops/reconciliation?account=ahead&format=json", headers=auth)
        assert one.status_code == 200, one.get_data(as_text=True)
        assert one.get_json()["summary"]["until"] == iso(frozen) and one.get_json()["differences"] == []
        page = client.get("/ops/accounts/ahead?format=json", headers=auth).get_json()
        assert page["differences"] == [] and page["summary"]["invoices"] >= 1
        # The renewal past the wall clock is an invoice the page checked, not one "outside the window".
        assert page["actual_lines"] and all(line["verdict"] == "matches the policy" for line in page["actual_lines"]
                                            if line["created"] > now)
        assert client.get("/ops/accounts/ahead", headers=auth).status_code == 200  # the HTML page too


def test_the_stripe_clock_reader(stripe_world):
    from adapter.providers.stripe.seats import StripeSeats

    start = int(time.time()) + 3 * DAY
    stripe_account(stripe_world, "on-clock", start)
    [link] = accounts.all_accounts(stripe_world.db)
    read = StripeSeats(stripe_world.client).clocks()
    assert read(link.subscription, None) == start * SECOND_US  # not mirrored: the subscription names its clock
    assert read(link.subscription, {"id": link.subscription, "test_clock": None}) is None  # mirrored: no call
    assert read("sub_missing", None) is None  # a subscription deleted with its clock: nothing bills on it


# ---------------------------------------------------------------- Chargebee: the time machine ahead


@pytest.fixture
def chargebee_world(tmp_path, sandbox, chargebee_client):
    from tests.reconcile.test_chargebee import oslo_day_site

    built = oslo_day_site(tmp_path, sandbox, chargebee_client)
    yield built
    built[2].close()


def test_chargebee_reconcile_without_a_window_reaches_the_time_machine(chargebee_world, monkeypatch):
    site, settings, db, catalog, worker = chargebee_world
    plan = catalog.plans["konfidens-solo-monthly"]
    now = int(time.time())
    start = now - DAY
    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": start})
    site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
    site.customer("cust-ahead")
    site.subscribe("cust-ahead", "sub-ahead", [(plan.seat.price_id, 3)])
    linked(db, catalog, "ahead", "chargebee", "sub-ahead", "konfidens-solo-monthly", start)
    worker.run_once()
    site.cb.TimeMachine.travel_forward("delorean", {"destination_time": now + 10 * DAY})
    send(db, catalog, {"id": "ahead-d", "type": "seat.activated", "account": "ahead",
                       "occurred_at": iso(now + 10 * DAY), "user": "d"})
    [outcome] = worker.run_once()
    assert outcome.sent == 1
    frozen = now + 40 * DAY
    site.cb.TimeMachine.travel_forward("delorean", {"destination_time": frozen})
    mirror(db, settings, "chargebee")

    result = cli_reconcile(monkeypatch, settings, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["until"] == iso(frozen)
    assert report["summary"]["invoices"] >= 1 and report["differences"] == [], report
