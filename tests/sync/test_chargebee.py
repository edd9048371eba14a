"""Seat sync end to end on the Chargebee sandbox, through the official chargebee SDK.

Seed 000 (Konfidens): day-based proration in Europe/Oslo, charged at the next
invoice; "If you deactivate a user on April 16th, you will only pay half of
the monthly price for that user (from April 1st to April 15th)".
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adapter import store
from adapter.billing.policy import load_catalog
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.sandbox.chargebee.testing import Site, lines
from tests.support.provisioning import REPO_MAPPINGS

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*parts) -> datetime:
    return datetime(*parts, tzinfo=OSLO)


@pytest.fixture
def world(tmp_path, sandbox, chargebee_client):
    site = Site(sandbox, chargebee_client)
    site.settings(billing_mode="day", timezone="Europe/Oslo", rate_limit_per_minute=None)
    settings = Settings(database=tmp_path / "seatsync.db", mappings=REPO_MAPPINGS,
                        chargebee_site="127", chargebee_api_key="test_sandbox",
                        chargebee_api_base=f"http://127.0.0.1:{sandbox.port}")
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    yield dataclasses.make_dataclass("World", ["site", "db", "catalog", "worker"])(site, db, catalog, worker)
    db.close()


def send(world, *events):
    batch = parse_document({"events": list(events)}, plans=world.catalog.plans, addons=world.catalog.addons)
    return record_events(world.db, batch)


def subscribe(world, plan_id: str, seats: int, sub_id: str = "clinic-1"):
    plan = world.catalog.plans[plan_id]
    world.site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency,
                     unit=plan.interval)
    world.site.customer(f"cust-{sub_id}")
    world.site.subscribe(f"cust-{sub_id}", sub_id, [(plan.seat.price_id, seats)])
    return sub_id


def test_a_user_deactivated_on_april_16_is_paid_april_1_to_15(world):
    world.site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    sub = subscribe(world, "konfidens-solo-monthly", 3)
    send(world,
         {"id": "link", "type": "account.linked", "account": "clinic", "occurred_at": oslo(2026, 4, 1).isoformat(),
          "provider": "chargebee", "subscription": sub, "plan": "konfidens-solo-monthly"},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b", "c"]})
    world.worker.run_once()
    assert world.site.credit_notes(sub) == []

    world.site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 4, 16, 10).timestamp())})
    send(world, {"id": "off", "type": "seat.deactivated", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 16, 10).isoformat(), "user": "c"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    [call] = world.db.query("SELECT * FROM provider_calls")
    params = json.loads(call["params"])
    assert params["prorate"] is True and params["invoice_immediately"] is False  # sent explicitly
    assert params["subscription_items"] == [{"item_price_id": "konfidens-solo-NOK-monthly", "quantity": 2}]

    # April has 30 days; April 16-30 is 15 of them: a credit for exactly half of one seat (39900 øre).
    [note] = world.site.credit_notes(sub)
    assert [amount for _, _, amount in lines(note)] == [19950]
    sub_now = world.site.cb.Subscription.retrieve(sub).subscription
    assert sub_now.subscription_items[0].quantity == 2


def test_an_added_user_is_an_unbilled_charge_until_the_next_invoice(world):
    world.site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    sub = subscribe(world, "konfidens-solo-monthly", 1)
    send(world,
         {"id": "link", "type": "account.linked", "account": "clinic", "occurred_at": oslo(2026, 4, 1).isoformat(),
          "provider": "chargebee", "subscription": sub, "plan": "konfidens-solo-monthly"},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a"]})
    world.worker.run_once()
    world.site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 4, 16, 9).timestamp())})
    send(world, {"id": "on", "type": "seat.activated", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 16, 9).isoformat(), "user": "b"})
    world.worker.run_once()
    # Paid from the day they accept: April 16-30 = 15/30 of 39900.
    [charge] = [c for c in world.site.unbilled(sub) if not c.is_voided]
    assert (charge.quantity, charge.amount) == (1, 19950)
    invoices_before = len(world.site.invoices(sub))
    # The renewal on May 1 sweeps it into the next withdrawal with the two seats for May.
    world.site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 5, 1, 1).timestamp())})
    renewal = world.site.invoices(sub)[invoices_before:]
    assert len(renewal) == 1
    assert sorted(amount for _, _, amount in lines(renewal[0])) == [19950, 79800]


def test_enabling_an_addon_mid_term_adds_its_price_prorated_to_the_day(world):
    world.site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(oslo(2026, 4, 1).timestamp())})
    sms = world.catalog.addons["konfidens-sms-monthly"]
    world.site.price(sms.price.price_id, "addon", sms.price.unit_amount, model="flat_fee", currency=sms.currency)
    sub = subscribe(world, "konfidens-solo-monthly", 2)
    send(world,
         {"id": "link", "type": "account.linked", "account": "clinic", "occurred_at": oslo(2026, 4, 1).isoformat(),
          "provider": "chargebee", "subscription": sub, "plan": "konfidens-solo-monthly"},
         {"id": "snap", "type": "account.seats_snapshot", "account": "clinic",
          "occurred_at": oslo(2026, 4, 1).isoformat(), "users": ["a", "b"]})
    world.worker.run_once()
    world.site.cb.TimeMachine.travel_forward("delorean", {"destination_time": int(oslo(2026, 4, 16, 12).timestamp())})
    send(world, {"id": "sms-on", "type": "account.addons_changed", "account": "clinic",
                 "occurred_at": oslo(2026, 4, 16, 12).isoformat(), "addons": ["konfidens-sms-monthly"]})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    subscription = world.site.cb.Subscription.retrieve(sub).subscription
    items = {i.item_price_id: i.quantity for i in subscription.subscription_items}
    assert set(items) == {"konfidens-solo-NOK-monthly", sms.price.price_id} and items["konfidens-solo-NOK-monthly"] == 2
    # A flat 9900 øre addon from April 16 to 30: 15 of 30 days, charged at the next invoice.
    charges = [(c.entity_id, c.amount) for c in world.site.unbilled(sub) if not c.is_voided]
    assert charges == [(sms.price.price_id, 4950)]
    assert world.worker.run_once() == []  # in line with the ledger: nothing more to send
