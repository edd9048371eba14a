"""Reconciliation end to end on the Stripe sandbox: clean months of the Stripe articles' policies report
nothing; each injected fault is found once, with the right kind, and nothing else is reported.

The mirror is built by ``seatsync backfill``'s code (list APIs), except in the dropped-webhook test,
where it is built by the real webhook path with the renewal's deliveries dropped.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import requests
import stripe
from click.testing import CliRunner
from werkzeug.serving import make_server

from adapter import reconcile, store
from adapter.billing.policy import load_catalog
from adapter.callbacks import backfill
from adapter.callbacks import events as provider_events
from adapter.cli.main import cli
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.support.provisioning import provision_stripe
from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price


def ts(*parts) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


APRIL_1, APRIL_10, APRIL_16, APRIL_20 = ts(2026, 4, 1), ts(2026, 4, 10), ts(2026, 4, 16), ts(2026, 4, 20)
MAY_1 = ts(2026, 5, 1)
AFTER_RENEWAL = MAY_1 + 3600
US = 1_000_000


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


@pytest.fixture
def world(tmp_path, sandbox, stripe_client):
    provision_stripe(stripe_client, tmp_path / "mappings")
    settings = Settings(database=tmp_path / "seatsync.db", mappings=tmp_path / "mappings",
                        stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url)
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    yield dataclasses.make_dataclass("World", ["settings", "db", "catalog", "worker", "client", "sandbox"])(
        settings, db, catalog, worker, stripe_client, sandbox)
    db.close()


def send(world, *events):
    record_events(world.db, parse_document({"events": list(events)}, plans=world.catalog.plans,
                                           addons=world.catalog.addons))


def seat(world, account, user, at, active=True):
    send(world, {"id": f"{account}-{user}-{at}-{active}", "type": "seat.activated" if active else "seat.deactivated",
                 "account": account, "occurred_at": iso(at), "user": user})


def open_account(world, account, plan_id, users, payment_method="pm_card_visa"):
    """A subscription on its own test clock at April 1, linked with a snapshot and synced."""
    plan = world.catalog.plans[plan_id]
    clock, customer = stripe_customer_on_clock(world.client, APRIL_1, payment_method)
    items = [{"price": plan.seat.price_id, "quantity": len(users)}]
    if plan.base_fee:
        items.append({"price": plan.base_fee.price_id, "quantity": 1})
    sub = world.client.v1.subscriptions.create({"customer": customer.id, "items": items})
    send(world,
         {"id": f"{account}-link", "type": "account.linked", "account": account, "occurred_at": iso(APRIL_1),
          "provider": "stripe", "subscription": sub.id, "plan": plan_id},
         {"id": f"{account}-snap", "type": "account.seats_snapshot", "account": account,
          "occurred_at": iso(APRIL_1), "users": users})
    world.worker.run_once()
    return dataclasses.make_dataclass("Sub", ["clock", "customer", "sub", "plan"])(clock, customer, sub, plan)


def advance(world, account, to):
    world.client.v1.test_helpers.test_clocks.advance(account.clock.id, {"frozen_time": to})


def seat_quantity(world, account) -> int:
    sub = world.client.v1.subscriptions.retrieve(account.sub.id).to_dict()
    return next(i["quantity"] for i in sub["items"]["data"] if i["price"]["id"] == account.plan.seat.price_id)


def mirror(world):
    for _ in backfill.run(world.db, world.settings, "stripe"):
        pass


def found(report):
    return sorted((d.account, d.kind) for d in report.differences)


def april(world, now, **kwargs):
    return reconcile.reconcile(world.db, world.catalog, since_us=APRIL_1 * US, until_us=(MAY_1 + 86400) * US,
                               now_us=now * US, **kwargs)


CLEAN_MONTHS = {
    # seed 001 monthly: prorations on the next invoice, credits too
    "standard-monthly": [("d", APRIL_10, True), ("a", APRIL_20, False)],
    # seed 001 annual: increases invoiced at once, decreases credited later
    "standard-annual": [("d", APRIL_10, True), ("e", APRIL_16, True), ("a", APRIL_20, False)],
    # seed 002 monthly: no prorations, the renewal bills who is active then
    "team-monthly": [("d", APRIL_10, True), ("a", APRIL_20, False)],
    # seed 002 annual: prorations gathered until they pass $150, then invoiced
    "team-annual": [("d", APRIL_10, True), ("e", APRIL_16, True), ("f", APRIL_20, True)],
}


def test_a_clean_month_of_each_stripe_policy_reports_nothing(world, tmp_path, monkeypatch):
    accounts = {}
    for plan_id, changes in CLEAN_MONTHS.items():
        accounts[plan_id] = account = open_account(world, plan_id, plan_id, ["a", "b", "c"])
        for user, at, active in changes:
            advance(world, account, at)
            seat(world, plan_id, user, at, active)
            world.worker.run_once()
        advance(world, account, AFTER_RENEWAL)
    mirror(world)
    report = april(world, AFTER_RENEWAL)
    assert report.errors == []
    assert found(report) == []
    assert report.accounts == 4
    # Every account has its May renewal; standard-annual its immediate invoices, team-annual its threshold one.
    assert report.invoices >= 5 and report.lines >= 12

    # The same through the command line, as cron would run it: exit 0 and a summary that says so.
    monkeypatch.setenv("SEATSYNC_DATABASE", str(world.settings.database))
    monkeypatch.setenv("SEATSYNC_MAPPINGS", str(world.settings.mappings))
    result = CliRunner().invoke(cli, ["reconcile", "--since", iso(APRIL_1), "--until", iso(MAY_1 + 86400),
                                      "--format", "json"])
    # The command's clock is the wall clock, after these test clocks: the same window, the same answer.
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["differences"] == 0 and summary["accounts"] == 4


def test_faults_before_the_renewal_are_drift_and_a_dead_letter(world):
    drifted = open_account(world, "drifted", "standard-monthly", ["a", "b", "c"])
    unsynced = open_account(world, "unsynced", "standard-monthly", ["a", "b", "c"])
    healthy = open_account(world, "healthy", "standard-monthly", ["a", "b", "c"])
    for account in (drifted, unsynced, healthy):
        advance(world, account, APRIL_16)

    # 1. Someone sets the quantity to 7 in the provider's dashboard, without prorations.
    seat_item = next(i for i in drifted.sub.to_dict()["items"]["data"] if i["price"]["id"]
                     == drifted.plan.seat.price_id)["id"]
    world.client.v1.subscription_items.update(seat_item, {"quantity": 7, "proration_behavior": "none"})

    # 2. A seat event whose update the provider refuses for good: it lands in the dead letters.
    stripe_provider = world.worker.providers["stripe"]

    class Refusing:
        name = "stripe"

        def read(self, *args):
            return stripe_provider.read(*args)

        def send(self, spec, key):
            raise stripe.InvalidRequestError("This subscription cannot be updated", "quantity",
                                             code="resource_invalid", http_status=400)

    refusing = Worker(world.settings, catalog=world.catalog, providers={"stripe": Refusing()},
                      config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    seat(world, "unsynced", "d", APRIL_16)
    [outcome] = refusing.run_once()
    assert outcome.dead == 1

    seat(world, "healthy", "d", APRIL_16)
    world.worker.run_once()
    mirror(world)
    report = april(world, APRIL_16 + 60)
    assert found(report) == [("drifted", "seat_drift"), ("unsynced", "never_synced")]
    by_account = {d.account: d for d in report.differences}
    assert (by_account["drifted"].expected_quantity, by_account["drifted"].actual_quantity) == (3, 7)
    assert by_account["drifted"].money_at_stake == 4 * 500
    assert "dead letter" in by_account["unsynced"].detail and "seatsync:" in by_account["unsynced"].detail

    # --live reads the provider itself and agrees with the mirror here.
    live = april(world, APRIL_16 + 60, account="drifted",
                 live=lambda link, catalog: stripe_provider.read(link.subscription, catalog).quantity)
    assert found(live) == [("drifted", "seat_drift")]

    # The command line, as ops would run it: --live reads Stripe, --fix makes the drifted account due and
    # runs the worker once, which pushes the ledger's 3 back (invoices untouched), says what it fixed and
    # prints the report after the fix: the drift is gone, so exit 0.
    env = {"SEATSYNC_DATABASE": str(world.settings.database), "SEATSYNC_MAPPINGS": str(world.settings.mappings),
           "STRIPE_API_KEY": "sk_test_sandbox", "STRIPE_API_BASE": world.sandbox.url}
    invoices_before = store.mirror_rows(world.db, "mirror_invoices")
    result = CliRunner().invoke(cli, ["reconcile", "--account", "drifted", "--live", "--fix", "--since",
                                      iso(APRIL_1), "--until", iso(APRIL_16 + 60), "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["differences"] == []
    assert "fixed    drifted: the provider had 7 seats, the ledger 3; 1 quantity update sent" in result.stderr
    assert seat_quantity(world, drifted) == 3
    mirror(world)
    assert store.mirror_rows(world.db, "mirror_invoices") == invoices_before
    assert found(april(world, APRIL_16 + 60, account="drifted")) == []
    again = CliRunner().invoke(cli, ["reconcile", "--account", "drifted", "--live", "--since", iso(APRIL_1),
                                     "--until", iso(APRIL_16 + 60)], env=env)
    assert again.exit_code == 0, again.output


def test_faults_at_the_renewal_are_each_classified(world):
    manual = open_account(world, "manual", "standard-monthly", ["a", "b", "c"])
    unpaid = open_account(world, "unpaid", "standard-monthly", ["a", "b", "c"])
    repriced = open_account(world, "repriced", "standard-monthly", ["a", "b", "c"])
    healthy = open_account(world, "healthy", "standard-monthly", ["a", "b", "c"])
    for name, account in (("manual", manual), ("unpaid", unpaid), ("repriced", repriced), ("healthy", healthy)):
        advance(world, account, APRIL_16)
        seat(world, name, "d", APRIL_16)
        world.worker.run_once()

    # 3. A manual charge of $12.34 a month added by hand (the sandbox has no POST /v1/invoiceitems, so it is
    #    a subscription item with a price no policy knows, without prorations): a line at the renewal.
    support = stripe_price(world.client, "Manual support fee", 1234)
    world.client.v1.subscriptions.update(manual.sub.id, {"items": [{"price": support.id, "quantity": 1}],
                                                         "proration_behavior": "none"})
    # 4. The card fails at the renewal.
    world.client.v1.customers.update(unpaid.customer.id,
                                     {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    # 5. The seat item is moved to another price behind seatsync's back (same quantity, no prorations).
    premium_seat = world.catalog.plans["premium-monthly"].seat.price_id
    seat_item = next(i for i in repriced.sub.to_dict()["items"]["data"] if i["price"]["id"]
                     == repriced.plan.seat.price_id)["id"]
    world.client.v1.subscription_items.update(seat_item, {"price": premium_seat, "quantity": 4,
                                                            "proration_behavior": "none"})

    for account in (manual, unpaid, repriced, healthy):
        advance(world, account, AFTER_RENEWAL)
    mirror(world)
    report = april(world, AFTER_RENEWAL)
    assert found(report) == [("manual", "unexpected_line"), ("repriced", "wrong_amount"),
                             ("unpaid", "invoice_unpaid")]
    by_account = {d.account: d for d in report.differences}
    assert by_account["manual"].actual_amount == 1234 and by_account["manual"].money_at_stake == 1234
    # 4 seats at $10 instead of $5.
    assert (by_account["repriced"].expected_amount, by_account["repriced"].actual_amount) == (2000, 4000)
    assert by_account["repriced"].price == premium_seat
    # The unpaid renewal: base fee $10 + 4 seats × $5 + the April 16 pair (−$7.50, +$10.00 = 2.50 → rounded lines).
    assert by_account["unpaid"].money_at_stake > 3000
    # The unpaid invoice is money owed on a right invoice: a receivable, totalled apart from the discrepancies.
    assert report.money_at_stake == {"USD": sum(d.money_at_stake for d in report.differences
                                                if d.kind != "invoice_unpaid")}
    assert report.receivables == {"USD": by_account["unpaid"].money_at_stake}
    csv_text = reconcile.to_csv(report)
    assert csv_text.splitlines()[0].startswith("account,kind,money_at_stake")
    assert len(csv_text.splitlines()) == 4


SECRET = "whsec_seatsync_stripe_endpoint"


def test_a_dropped_renewal_webhook_is_a_missing_invoice(world, settings):
    from webhooks import create_app

    configured = replace(world.settings, stripe_webhook_secrets=(SECRET,))
    server = make_server("127.0.0.1", 0, create_app(configured), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hooks = f"{world.sandbox.url}/_sandbox/webhooks"
    try:
        r = requests.post(f"{hooks}/stripe/endpoints",
                          json={"url": f"http://127.0.0.1:{server.server_port}/webhooks/stripe", "secret": SECRET})
        assert r.status_code == 201

        def deliver():
            assert requests.post(f"{hooks}/flush", json={"timeout": 20}).json() == {"drained": True}
            provider_events.process_pending_provider_events(world.db, configured)

        lost = open_account(world, "lost", "standard-monthly", ["a", "b", "c"])
        kept = open_account(world, "kept", "standard-monthly", ["a", "b", "c"])
        for name, account in (("lost", lost), ("kept", kept)):
            advance(world, account, APRIL_16)
            seat(world, name, "d", APRIL_16)
            world.worker.run_once()
        advance(world, kept, AFTER_RENEWAL)
        deliver()
        # Every delivery of the lost account's renewal is dropped.
        assert requests.post(f"{hooks}/stripe/settings", json={"drop_rate": 1.0}).ok
        advance(world, lost, AFTER_RENEWAL)
        deliver()
        assert requests.post(f"{hooks}/stripe/settings", json={"drop_rate": 0.0}).ok

        report = april(world, AFTER_RENEWAL)
        assert found(report) == [("lost", "invoice_missing")]
        [missing] = report.differences
        # Base fee $10 + 4 seats × $5 + the April 16 pair.
        assert missing.expected_amount == 1000 + 2000 + (-750 + 1000)
        # A backfill (what the detail tells ops to run) recovers it, and the month is clean.
        mirror(world)
        assert found(april(world, AFTER_RENEWAL)) == []
    finally:
        server.shutdown()
        thread.join(timeout=5)


def month_start(index: int) -> int:
    year, month = 2026 + (3 + index) // 12, (3 + index) % 12 + 1
    return ts(year, month, 1)


def test_a_clean_year_of_each_stripe_policy_reports_nothing(world):
    """Twelve months of each Stripe article policy: a user added on the 10th, another removed on the 20th."""
    accounts = {plan_id: open_account(world, plan_id, plan_id, ["a", "b", "c"]) for plan_id in CLEAN_MONTHS}
    for month in range(12):
        start = month_start(month)
        for day, user, active in ((9, f"n{month}", True), (19, "a" if month == 0 else f"n{month - 1}", False)):
            at = start + day * 86400 + 3600 * month  # a different hour each month
            for plan_id, account in accounts.items():
                advance(world, account, at)
                seat(world, plan_id, user, at, active)
            world.worker.run_once()
    end = month_start(12) + 3600
    for account in accounts.values():
        advance(world, account, end)
    mirror(world)
    report = reconcile.reconcile(world.db, world.catalog, since_us=APRIL_1 * US, until_us=(end + 86400) * US,
                                 now_us=end * US)
    assert report.errors == []
    assert found(report) == []
    # 12 monthly renewals for each monthly plan, plus the annual plans' immediate and threshold invoices.
    assert report.invoices >= 2 * 12 + 12 and report.lines >= 100


def test_a_late_change_across_the_renewal_is_one_late_change(world):
    """A seat dated April 28 that reaches seatsync on May 2 is pushed at May 1 (the worker records it);
    its four line differences (the missing April pair, May billed at the old count, May's full pair
    in June) are one fault whose real cost is the three April days: 1 seat × $5 × 3/30 = $0.50."""
    late = open_account(world, "late", "standard-monthly", ["a", "b", "c"])
    on_time = open_account(world, "on-time", "standard-monthly", ["a", "b", "c"])
    advance(world, on_time, MAY_1 - 3 * 86400)
    seat(world, "on-time", "d", MAY_1 - 3 * 86400)
    world.worker.run_once()
    advance(world, late, MAY_1 + 86400)
    seat(world, "late", "d", MAY_1 - 3 * 86400)
    world.worker.run_once()
    [row] = world.db.query("SELECT * FROM late_changes")
    assert row["kind"] == "across_period"
    june = ts(2026, 6, 1)
    for account in (late, on_time):
        advance(world, account, june + 3600)
    mirror(world)
    report = reconcile.reconcile(world.db, world.catalog, since_us=APRIL_1 * US, until_us=(june + 86400) * US,
                                 now_us=(june + 3600) * US)
    assert found(report) == [("late", "late_change")]
    [difference] = report.differences
    assert difference.money_at_stake == 50 and "explains 4 line differences" in difference.detail
