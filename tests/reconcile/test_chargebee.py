"""Reconciliation on the Chargebee sandbox: a clean month of seed 000 (Konfidens, day-based proration in
Europe/Oslo, charges on the next invoice, credits as credit notes) reports nothing; an unpaid renewal
is the one difference when the card fails."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adapter import reconcile, store
from adapter.billing.policy import load_catalog
from adapter.callbacks import backfill
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.sandbox.chargebee.testing import Site
from tests.support.provisioning import REPO_MAPPINGS

OSLO = ZoneInfo("Europe/Oslo")
PLAN = "konfidens-solo-monthly"


def oslo(*parts) -> datetime:
    return datetime(*parts, tzinfo=OSLO)


def us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000


def oslo_day_site(tmp_path, sandbox, chargebee_client):
    """A Chargebee site billing by day in Europe/Oslo, seatsync's settings, database, catalogue and a worker
    (no coalescing delay): (site, settings, db, catalog, worker). The caller closes the database."""
    site = Site(sandbox, chargebee_client)
    site.settings(billing_mode="day", timezone="Europe/Oslo", rate_limit_per_minute=None)
    settings = Settings(database=tmp_path / "seatsync.db", mappings=REPO_MAPPINGS,
                        chargebee_site="127", chargebee_api_key="test_sandbox",
                        chargebee_api_base=f"http://127.0.0.1:{sandbox.port}")
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    return site, settings, db, catalog, worker


@pytest.fixture
def world(tmp_path, sandbox, chargebee_client):
    built = oslo_day_site(tmp_path, sandbox, chargebee_client)
    yield built
    built[2].close()


@pytest.mark.parametrize("card, expected", [("4111111111111111", []),
                                            ("4000000000000341", [("clinic", "invoice_unpaid")])])
def test_a_konfidens_month_reconciles(world, card, expected):
    site, settings, db, catalog, worker = world

    def send(*events):
        record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))

    plan = catalog.plans[PLAN]
    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
    site.customer("cust-clinic", card=card)
    site.subscribe("cust-clinic", "clinic-1", [(plan.seat.price_id, 3)])
    send({"id": "link", "type": "account.linked", "account": "clinic", "occurred_at": oslo(2026, 4, 1).isoformat(),
          "provider": "chargebee", "subscription": "clinic-1", "plan": PLAN},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    worker.run_once()
    for event_id, kind, user, day in (("on", "seat.activated", "d", 10), ("off", "seat.deactivated", "a", 16)):
        site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 4, day, 9).timestamp())})
        send({"id": event_id, "type": kind, "account": "clinic", "occurred_at": oslo(2026, 4, day, 9).isoformat(),
              "user": user})
        worker.run_once()
    site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 5, 1, 1).timestamp())})
    for _ in backfill.run(db, settings, "chargebee"):
        pass
    report = reconcile.reconcile(db, catalog, since_us=us(oslo(2026, 4, 1)), until_us=us(oslo(2026, 5, 2)),
                                 now_us=us(oslo(2026, 5, 1, 1)))
    assert report.errors == []
    assert sorted((d.account, d.kind) for d in report.differences) == expected, report.differences
    assert report.invoices == 1 and report.lines >= 3


def month_start(index: int) -> datetime:
    return oslo(2026 + (3 + index) // 12, (3 + index) % 12 + 1, 1)


def test_a_clean_year_of_konfidens_reports_nothing(world):
    """Twelve months of the monthly and annual Konfidens plans: a user added on the 10th, one removed on
    the 20th; Chargebee's unbilled charges, credit notes and renewals all explained."""
    site, settings, db, catalog, worker = world

    def send(*events):
        record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))

    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    plans = ("konfidens-solo-monthly", "konfidens-pro-annual")
    for n, plan_id in enumerate(plans):
        plan = catalog.plans[plan_id]
        site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
        site.customer(f"cust-{n}")
        site.subscribe(f"cust-{n}", f"sub-{n}", [(plan.seat.price_id, 3)])
        send({"id": f"link-{n}", "type": "account.linked", "account": f"clinic-{n}",
              "occurred_at": oslo(2026, 4, 1).isoformat(), "provider": "chargebee", "subscription": f"sub-{n}",
              "plan": plan_id},
             {"id": f"snap-{n}", "type": "account.seats_snapshot", "account": f"clinic-{n}",
              "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    worker.run_once()
    for month in range(12):
        for day, user, active in ((10, f"n{month}", True), (20, "a" if month == 0 else f"n{month - 1}", False)):
            at = month_start(month).replace(day=day, hour=9 + month % 5)
            site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(at.timestamp())})
            for n in range(len(plans)):
                send({"id": f"{n}-{user}-{active}", "type": "seat.activated" if active else "seat.deactivated",
                      "account": f"clinic-{n}", "occurred_at": at.isoformat(), "user": user})
            worker.run_once()
    end = month_start(12).replace(hour=1)
    site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(end.timestamp())})
    for _ in backfill.run(db, settings, "chargebee"):
        pass
    report = reconcile.reconcile(db, catalog, since_us=us(oslo(2026, 4, 1)), until_us=us(month_start(12)) + 86400
                                 * 1_000_000, now_us=us(end))
    assert report.errors == []
    assert sorted((d.account, d.kind) for d in report.differences) == [], report.differences
    assert report.invoices >= 13 and report.lines >= 40


def test_chargebee_drift_and_a_dead_letter_are_found(world):
    site, settings, db, catalog, worker = world

    def send(*events):
        record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))

    plan = catalog.plans[PLAN]
    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
    for name in ("drifted", "unsynced", "healthy"):
        site.customer(f"cust-{name}")
        site.subscribe(f"cust-{name}", f"sub-{name}", [(plan.seat.price_id, 3)])
        send({"id": f"link-{name}", "type": "account.linked", "account": name,
              "occurred_at": oslo(2026, 4, 1).isoformat(), "provider": "chargebee", "subscription": f"sub-{name}",
              "plan": PLAN},
             {"id": f"snap-{name}", "type": "account.seats_snapshot", "account": name,
              "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    worker.run_once()
    at = oslo(2026, 4, 16, 9)
    site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(at.timestamp())})
    # Someone sets 7 seats in Chargebee's admin, without prorating.
    site.change("sub-drifted", [(plan.seat.price_id, 7)], prorate=False, invoice_immediately=False)

    chargebee_provider = worker.providers["chargebee"]

    class Refusing:
        name = "chargebee"

        def read(self, *args):
            return chargebee_provider.read(*args)

        def send(self, spec, key):
            raise ValueError("subscription_items[quantity][0] : cannot be changed for this subscription")

    refusing = Worker(settings, catalog=catalog, providers={"chargebee": Refusing()},
                      config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    send({"id": "unsynced-d", "type": "seat.activated", "account": "unsynced", "occurred_at": at.isoformat(),
          "user": "d"})
    [outcome] = refusing.run_once()
    assert outcome.dead == 1
    send({"id": "healthy-d", "type": "seat.activated", "account": "healthy", "occurred_at": at.isoformat(),
          "user": "d"})
    worker.run_once()
    for _ in backfill.run(db, settings, "chargebee"):
        pass
    report = reconcile.reconcile(db, catalog, since_us=us(oslo(2026, 4, 1)), until_us=us(oslo(2026, 5, 1)),
                                 now_us=us(at) + 60_000_000)
    assert sorted((d.account, d.kind) for d in report.differences) == [("drifted", "seat_drift"),
                                                                       ("unsynced", "never_synced")]
    drift = next(d for d in report.differences if d.kind == "seat_drift")
    assert (drift.expected_quantity, drift.actual_quantity, drift.money_at_stake) == (3, 7, 4 * 39900)
