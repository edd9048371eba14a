"""Seat sync end to end on the Stripe sandbox, through the official stripe SDK.

The expected amounts come from the articles and docs/stripe.md#proration-amounts (Stripe's
credit/debit pair, each line rounded), worked out by hand in each test.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from adapter import store
from adapter.billing.policy import load_catalog
from adapter.clock import now_us
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.support.provisioning import provision_stripe
from tests.support.sandbox_fixtures import stripe_customer_on_clock

APRIL_1 = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
APRIL_16 = int(datetime(2026, 4, 16, tzinfo=UTC).timestamp())


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


@pytest.fixture
def world(tmp_path, sandbox, stripe_client):
    ids = provision_stripe(stripe_client, tmp_path / "mappings")
    settings = Settings(database=tmp_path / "seatsync.db", mappings=tmp_path / "mappings",
                        stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url)
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    worker = Worker(settings, catalog=catalog,
                    config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
    yield dataclasses.make_dataclass("World", ["settings", "db", "catalog", "ids", "worker", "client", "sandbox"])(
        settings, db, catalog, ids, worker, stripe_client, sandbox)
    db.close()


def send(world, *events):
    batch = parse_document({"events": list(events)}, plans=world.catalog.plans, addons=world.catalog.addons)
    return record_events(world.db, batch)


def subscribe(world, plan_id: str, seats: int, start: int = APRIL_1, payment_method: str = "pm_card_visa"):
    plan = world.catalog.plans[plan_id]
    clock, customer = stripe_customer_on_clock(world.client, start, payment_method)
    items = [{"price": plan.seat.price_id, "quantity": seats}]
    if plan.base_fee:
        items.append({"price": plan.base_fee.price_id, "quantity": 1})
    sub = world.client.v1.subscriptions.create({"customer": customer.id, "items": items})
    return clock, customer, sub


def link(world, account, sub, plan_id, users, at):
    send(world,
         {"id": f"{account}-link", "type": "account.linked", "account": account, "occurred_at": iso(at),
          "provider": "stripe", "subscription": sub.id, "plan": plan_id},
         {"id": f"{account}-snap", "type": "account.seats_snapshot", "account": account, "occurred_at": iso(at),
          "users": users})


def pending_items(world, customer):
    items = world.client.v1.invoice_items.list({"customer": customer.id, "pending": True, "limit": 100})
    return sorted((i.amount, i.quantity) for i in items.auto_paging_iter())


def seat_quantity(world, sub):
    fresh = world.client.v1.subscriptions.retrieve(sub.id).to_dict()
    return {i["price"]["id"]: i["quantity"] for i in fresh["items"]["data"]}


def test_a_seat_added_halfway_is_prorated_on_the_next_invoice(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 10)
    link(world, "acme", sub, "standard-monthly", [f"u{i}" for i in range(10)], APRIL_1)
    world.worker.run_once()
    assert pending_items(world, customer) == []  # the provider already bills 10 seats

    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    send(world, {"id": "e11", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "u10"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    seat_price = world.catalog.plans["standard-monthly"].seat.price_id
    assert seat_quantity(world, sub)[seat_price] == 11
    # April has 30 days; April 16 00:00 leaves exactly half: −10×$5×½ and +11×$5×½.
    assert pending_items(world, customer) == [(-2500, 10), (2750, 11)]

    [call] = store.succeeded_quantity_calls(world.db, "acme", sub.id)
    assert call["quantity"] == 11
    row = next(world.db.query("SELECT * FROM provider_calls"))
    assert row["idempotency_key"].startswith(f"seatsync:{sub.id}:")
    assert json.loads(row["params"]) == {"quantity": 11, "proration_behavior": "create_prorations",
                                         "proration_date": APRIL_16}
    assert world.worker.run_once() == []  # nothing left to do


def test_standard_to_premium_at_half_the_period_costs_35_dollars_net(world):
    """Seed 001: 10 users, $60 Standard → $130 Premium halfway = +$65 − $30 = +$35, from four lines."""
    clock, customer, sub = subscribe(world, "standard-monthly", 10)
    link(world, "acme", sub, "standard-monthly", [f"u{i}" for i in range(10)], APRIL_1)
    world.worker.run_once()
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    send(world, {"id": "up", "type": "account.plan_changed", "account": "acme", "occurred_at": iso(APRIL_16),
                 "plan": "premium-monthly"})
    world.worker.run_once()
    lines = pending_items(world, customer)
    assert len(lines) == 4
    assert sorted(amount for amount, _ in lines) == [-2500, -500, 1500, 5000]
    assert sum(amount for amount, _ in lines) == 3500
    premium = world.catalog.plans["premium-monthly"]
    assert seat_quantity(world, sub) == {premium.seat.price_id: 10, premium.base_fee.price_id: 1}


def test_a_burst_is_one_call_and_bills_like_one_by_one(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 2)
    link(world, "acme", sub, "standard-monthly", ["a", "b"], APRIL_1)
    world.worker.run_once()
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    send(world, *[{"id": f"add{i}", "type": "seat.activated", "account": "acme",
                   "occurred_at": iso(APRIL_16 - 10 + i), "user": f"n{i}"} for i in range(5)])
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    # Mean instant of the five adds is APRIL_16 − 8 s: one credit/debit pair for 2 → 7.
    total = sum(amount for amount, _ in pending_items(world, customer))
    one_by_one = sum(round(500 * (APRIL_1 + 30 * 86400 - (APRIL_16 - 10 + i)) / (30 * 86400)) for i in range(5))
    assert abs(total - one_by_one) <= 2


def test_a_crash_after_the_provider_applied_the_call_repeats_nothing(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 10)
    link(world, "acme", sub, "standard-monthly", [f"u{i}" for i in range(10)], APRIL_1)
    world.worker.run_once()
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    send(world, {"id": "e11", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "u10"})

    stripe_provider = world.worker.providers["stripe"]

    class CrashAfterSend:
        name = "stripe"

        def read(self, *args):
            return stripe_provider.read(*args)

        def send(self, spec, key):
            stripe_provider.send(spec, key)  # the provider applies it...
            raise KeyboardInterrupt("worker killed before recording the outcome")

    crashing = Worker(world.settings, catalog=world.catalog, providers={"stripe": CrashAfterSend()},
                      config=WorkerConfig(coalesce_delay=0, threads=1, lease=60), owner="doomed")
    with pytest.raises(KeyboardInterrupt):
        crashing.run_once()
    assert len(store.planned_calls(world.db, "acme")) == 1  # planned, sent, never confirmed
    assert world.worker.run_once() == []  # the dead worker's lease still holds

    # Two minutes later the lease has expired: a healthy worker resends the same call with the same key.
    later = Worker(world.settings, catalog=world.catalog, providers=world.worker.providers,
                   config=WorkerConfig(coalesce_delay=0, threads=1), now_us=lambda: now_us() + 120_000_000)
    [outcome] = later.run_once()
    assert outcome.sent == 1
    assert store.planned_calls(world.db, "acme") == []
    assert pending_items(world, customer) == [(-2500, 10), (2750, 11)]  # one pair, not two


def test_an_unknown_subscription_is_dead_lettered_with_the_providers_reason(world):
    send(world, {"id": "l", "type": "account.linked", "account": "ghost", "occurred_at": iso(APRIL_1),
                 "provider": "stripe", "subscription": "sub_missing", "plan": "standard-monthly"})
    [outcome] = world.worker.run_once()
    assert outcome.dead == 1
    [letter] = store.dead_letters(world.db)
    assert letter["account"] == "ghost" and letter["status"] == 404
    assert "sub_missing" in letter["reason"]


def test_a_quantity_changed_behind_seatsyncs_back_is_recorded_and_corrected(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 3)
    link(world, "acme", sub, "standard-monthly", ["a", "b", "c"], APRIL_1)
    world.worker.run_once()
    seat_item = next(i for i in sub.to_dict()["items"]["data"])["id"]
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    world.client.v1.subscription_items.update(seat_item, {"quantity": 7, "proration_behavior": "none"})
    send(world, {"id": "d", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "d"})
    world.worker.run_once()
    [drift] = world.db.query("SELECT * FROM drifts")
    assert (drift["expected_quantity"], drift["provider_quantity"]) == (3, 7)
    [notice] = world.db.query("SELECT type, account, body FROM deliveries")
    assert (notice["type"], notice["account"]) == ("seats.drift_detected", "acme")
    assert json.loads(notice["body"])["data"]["actual"] == 7
    seat_price = world.catalog.plans["standard-monthly"].seat.price_id
    assert seat_quantity(world, sub)[seat_price] == 4


def test_stripes_200_quantity_updates_an_hour_are_never_exceeded(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 2)
    link(world, "acme", sub, "standard-monthly", ["a", "b"], APRIL_1)
    world.worker.run_once()
    now = now_us()
    # 199 updates already went out in the last hour (recorded as seatsync's own calls).
    store.plan_calls(world.db, [
        {"account": "acme", "provider": "stripe", "subscription": sub.id, "version": 0, "seq": 1000 + n,
         "idempotency_key": f"earlier-{n}", "kind": "quantity", "operation": "stripe.subscription_items.update",
         "target": "si_x", "params": "{}", "quantity": 2, "effective_us": APRIL_1 * 1_000_000, "planned_us": now,
         "status": "succeeded", "completed_us": now - n * 1_000_000}
        for n in range(199)
    ])
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16 + 10})
    # A burst with adds and removes needs two calls: 199 + 2 > 200, so the worker waits.
    send(world, {"id": "in", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "c"},
         {"id": "out", "type": "seat.deactivated", "account": "acme", "occurred_at": iso(APRIL_16 + 5), "user": "a"})
    [outcome] = world.worker.run_once()
    assert outcome.deferred and outcome.sent == 0
    assert pending_items(world, customer) == []
    # An hour later the window has room again and both calls go out.
    later = Worker(world.settings, catalog=world.catalog, providers=world.worker.providers,
                   config=WorkerConfig(coalesce_delay=0, threads=1), now_us=lambda: now_us() + 3_700_000_000)
    [outcome] = later.run_once()
    assert outcome.sent == 2


def test_a_change_ahead_of_the_providers_clock_waits_and_is_not_forgotten(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 2)
    link(world, "acme", sub, "standard-monthly", ["a", "b"], APRIL_1)
    world.worker.run_once()
    send(world, {"id": "soon", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "c"})
    [outcome] = world.worker.run_once()  # the clock is still at April 1
    assert outcome.sent == 0 and outcome.waiting
    assert store.sync_state(world.db, "acme")["synced_version"] < store.sync_state(world.db, "acme")["ledger_version"]
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_16})
    later = Worker(world.settings, catalog=world.catalog, providers=world.worker.providers,
                   config=WorkerConfig(coalesce_delay=0, threads=1), now_us=lambda: now_us() + 10_000_000)
    [outcome] = later.run_once()
    assert outcome.sent == 1 and not outcome.waiting
    assert pending_items(world, customer) == [(-500, 2), (750, 3)]


APRIL_10 = int(datetime(2026, 4, 10, tzinfo=UTC).timestamp())
APRIL_20 = int(datetime(2026, 4, 20, tzinfo=UTC).timestamp())
MAY_1 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())
MAY_5 = int(datetime(2026, 5, 5, tzinfo=UTC).timestamp())


def test_a_late_event_in_the_current_period_is_applied_with_its_own_instant(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 2)
    link(world, "acme", sub, "standard-monthly", ["a", "b"], APRIL_1)
    world.worker.run_once()
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": APRIL_20})
    send(world, {"id": "b16", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_16), "user": "c"})
    world.worker.run_once()
    # The product's event for April 10 arrives after April 16's was synced.
    send(world, {"id": "a10", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_10), "user": "d"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    last = list(world.db.query("SELECT params FROM provider_calls ORDER BY id DESC LIMIT 1"))[0]
    assert json.loads(last["params"])["proration_date"] == APRIL_10 and json.loads(last["params"])["quantity"] == 4
    # Money: one seat from April 16 (15/30 of 500) plus one from April 10 (21/30 of 500).
    assert sum(amount for amount, _ in pending_items(world, customer)) == 250 + 350
    assert list(world.db.query("SELECT * FROM late_changes")) == []


def test_an_event_from_an_already_billed_period_is_recorded_and_applied_from_the_period_start(world):
    clock, customer, sub = subscribe(world, "standard-monthly", 2)
    link(world, "acme", sub, "standard-monthly", ["a", "b"], APRIL_1)
    world.worker.run_once()
    world.client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": MAY_5})  # April is invoiced
    send(world, {"id": "old", "type": "seat.activated", "account": "acme", "occurred_at": iso(APRIL_20), "user": "c"})
    [outcome] = world.worker.run_once()
    assert outcome.sent == 1
    [late] = world.db.query("SELECT * FROM late_changes")
    assert (late["kind"], late["delta"], late["instant_us"]) == ("across_period", 1, MAY_1 * 1_000_000)
    last = list(world.db.query("SELECT params FROM provider_calls ORDER BY id DESC LIMIT 1"))[0]
    assert json.loads(last["params"])["proration_date"] == MAY_1
    # From May 1 the third seat is billed for the whole of May: credit 2 × 500, debit 3 × 500.
    assert pending_items(world, customer) == [(-1000, 2), (1500, 3)]
