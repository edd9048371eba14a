"""Issue 18 item 2: day-based policies at local midnight. A change made in the last seconds of a local
day, whose provider call happens after local midnight, is still billed from its own day: on Chargebee
with backdating (``change_option=specific_date``, a site setting), on Stripe with ``proration_date`` at
the change day's local midnight; and where backdating is impossible (a Chargebee site without it) the
late change is recorded with its exact money, the seat-day moved, never a silent shift.

Seed 000 (Konfidens): day-based proration in Europe/Oslo. April has 30 days; the seat is 39900 øre.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from adapter import store
from adapter.billing.policy import load_catalog
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.sandbox.chargebee.testing import Site
from tests.support.provisioning import REPO_MAPPINGS

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*parts) -> datetime:
    return datetime(*parts, tzinfo=OSLO)


def chargebee_world(tmp_path, sandbox, client, *, backdating: bool):
    site = Site(sandbox, client)
    site.settings(billing_mode="day", timezone="Europe/Oslo", rate_limit_per_minute=None,
                  backdating_enabled=backdating)
    settings = Settings(database=tmp_path / "seatsync.db", mappings=REPO_MAPPINGS, chargebee_site="127",
                        chargebee_api_key="test_sandbox", chargebee_api_base=f"http://127.0.0.1:{sandbox.port}",
                        chargebee_backdating=backdating)
    catalog = load_catalog(settings.mappings)
    plan = catalog.plans["konfidens-solo-monthly"]
    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
    site.customer("cust-clinic")
    site.subscribe("cust-clinic", "clinic-1", [(plan.seat.price_id, 3)])
    db = store.open_db(settings.database)
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    world = dataclasses.make_dataclass("World", ["site", "db", "catalog", "worker", "plan"])(
        site, db, catalog, worker, plan)
    send(world, {"id": "link", "type": "account.linked", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 1).isoformat(), "provider": "chargebee", "subscription": "clinic-1",
                 "plan": plan.id},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    worker.run_once()
    return world


def send(world, *events):
    record_events(world.db, parse_document({"events": list(events)}, plans=world.catalog.plans,
                                           addons=world.catalog.addons))


def add_a_seat_at_23_59_58_synced_after_midnight(world):
    # The product adds a user at 23:59:58 on April 15; the clock (and the call) is past midnight.
    world.site.cb.TimeMachine.travel_forward(
        "delorean", {"destination_time": int(oslo(2026, 4, 16, 0, 0, 3).timestamp())})
    send(world, {"id": "late-night", "type": "seat.activated", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 15, 23, 59, 58).isoformat(), "user": "d"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    return json.loads(list(world.db.query("SELECT params FROM provider_calls ORDER BY id DESC LIMIT 1"))[0]["params"])


def test_chargebee_with_backdating_bills_a_late_night_change_from_its_own_day(tmp_path, sandbox, chargebee_client):
    world = chargebee_world(tmp_path, sandbox, chargebee_client, backdating=True)
    params = add_a_seat_at_23_59_58_synced_after_midnight(world)
    assert params["change_option"] == "specific_date"
    assert datetime.fromtimestamp(params["changes_scheduled_at"], OSLO).date().isoformat() == "2026-04-15"
    # Billed from April 15: 16 of April's 30 days (15th to 30th) of one seat.
    [charge] = [c for c in world.site.unbilled("clinic-1") if not c.is_voided]
    assert charge.amount == round(Fraction(39900 * 16, 30))  # 21280
    assert list(world.db.query("SELECT * FROM late_changes")) == []
    assert world.worker.run_once() == []


def test_chargebee_without_backdating_records_the_seat_day_that_moved(tmp_path, sandbox, chargebee_client):
    world = chargebee_world(tmp_path, sandbox, chargebee_client, backdating=False)
    params = add_a_seat_at_23_59_58_synced_after_midnight(world)
    assert params["change_option"] == "immediately"
    [charge] = [c for c in world.site.unbilled("clinic-1") if not c.is_voided]
    assert charge.amount == round(Fraction(39900 * 15, 30))  # billed from April 16: one day less
    [late] = world.db.query("SELECT * FROM late_changes")
    assert (late["kind"], late["moved"], late["unit"], late["period_units"]) == ("applied_now", 1, "day", 30)
    # Its money is exact: one seat-day of 39900 øre over 30 days, 1330 øre, the difference between the two.
    assert Fraction(late["amount"], late["period_units"]) == Fraction(39900, 30) == 21280 - 19950
    assert world.worker.run_once() == []


def test_stripe_day_policy_dates_a_late_night_change_at_its_own_local_midnight(tmp_path, sandbox, stripe_client):
    from tests.support.provisioning import provision_stripe
    from tests.support.sandbox_fixtures import stripe_customer_on_clock

    provision_stripe(stripe_client, tmp_path / "mappings")
    settings = Settings(database=tmp_path / "seatsync.db", mappings=tmp_path / "mappings",
                        stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url)
    catalog = load_catalog(settings.mappings)
    plan = catalog.plans["konfidens-solo-monthly-stripe"]
    clock, customer = stripe_customer_on_clock(stripe_client, int(oslo(2026, 4, 1).timestamp()))
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id,
                                                 "items": [{"price": plan.seat.price_id, "quantity": 3}]})
    db = store.open_db(settings.database)
    world = dataclasses.make_dataclass("World", ["db", "catalog"])(db, catalog)
    send(world, {"id": "link", "type": "account.linked", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 1).isoformat(), "provider": "stripe", "subscription": sub.id,
                 "plan": plan.id},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    worker.run_once()
    stripe_client.v1.test_helpers.test_clocks.advance(clock.id,
                                                      {"frozen_time": int(oslo(2026, 4, 16, 0, 0, 3).timestamp())})
    send(world, {"id": "late-night", "type": "seat.activated", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 15, 23, 59, 58).isoformat(), "user": "d"})
    [outcome] = worker.run_once()
    assert outcome.sent == 1
    [row] = db.query("SELECT params FROM provider_calls WHERE kind = 'quantity' ORDER BY id DESC LIMIT 1")
    assert json.loads(row["params"])["proration_date"] == int(oslo(2026, 4, 15).timestamp())
    assert list(db.query("SELECT * FROM late_changes")) == []
