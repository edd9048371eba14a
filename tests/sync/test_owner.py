"""Issue 12: seat sync writes only to a subscription whose metadata names the account it syncs.

Through the worker, the official SDKs and the sandbox. Before: sync never compared the subscription's
``seatsync_account`` metadata with the account, so a link naming another customer's subscription moved
that customer's seats and money.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from adapter import store
from adapter.billing.policy import load_catalog
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.sandbox.chargebee.testing import Site
from tests.support.provisioning import REPO_MAPPINGS, provision_stripe
from tests.support.sandbox_fixtures import stripe_customer_on_clock

APRIL_1 = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
AT = datetime.fromtimestamp(APRIL_1, tz=UTC).isoformat()


def _worker(settings, catalog) -> Worker:
    return Worker(settings, catalog=catalog,
                  config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))


def send(world, *events):
    batch = parse_document({"events": list(events)}, plans=world.catalog.plans, addons=world.catalog.addons)
    return record_events(world.db, batch)


def link_with_seats(world, account, subscription, plan, users, *, provider, at=AT, suffix=""):
    send(world,
         {"id": f"{account}-link{suffix}", "type": "account.linked", "account": account, "occurred_at": at,
          "provider": provider, "subscription": subscription, "plan": plan},
         {"id": f"{account}-snap{suffix}", "type": "account.seats_snapshot", "account": account, "occurred_at": at,
          "users": [f"u{n}" for n in range(users)]})


def mismatch_letters(world):
    return [d for d in store.dead_letters(world.db) if d["code"] == "subscription_owner_mismatch"]


@pytest.fixture
def stripe_world(tmp_path, sandbox, stripe_client):
    provision_stripe(stripe_client, tmp_path / "mappings")
    settings = Settings(database=tmp_path / "seatsync.db", mappings=tmp_path / "mappings",
                        stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url)
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    yield dataclasses.make_dataclass("World", ["db", "catalog", "worker", "client"])(
        db, catalog, _worker(settings, catalog), stripe_client)
    db.close()


def stripe_subscription(world, seats, metadata=None):
    plan = world.catalog.plans["team-monthly"]
    _, customer = stripe_customer_on_clock(world.client, APRIL_1)
    params = {"customer": customer.id, "items": [{"price": plan.seat.price_id, "quantity": seats}]}
    if metadata:
        params["metadata"] = metadata
    return world.client.v1.subscriptions.create(params).id


def stripe_state(world, sub):
    fresh = world.client.v1.subscriptions.retrieve(sub).to_dict()
    return fresh["items"]["data"][0]["quantity"], fresh.get("metadata") or {}


def test_stripe_subscription_of_another_account_is_never_written(stripe_world):
    world = stripe_world
    sub = stripe_subscription(world, 5, {"seatsync_account": "acct-a"})
    link_with_seats(world, "acct-b", sub, "team-monthly", 20, provider="stripe")
    [outcome] = world.worker.run_once()
    assert outcome.dead == 1 and outcome.sent == 0
    [letter] = mismatch_letters(world)
    assert letter["account"] == "acct-b" and "acct-a" in letter["reason"]
    assert stripe_state(world, sub) == (5, {"seatsync_account": "acct-a"})
    assert store.planned_calls(world.db, "acct-b") == []


def test_stripe_link_claims_an_unclaimed_subscription_keeping_other_metadata(stripe_world):
    world = stripe_world
    sub = stripe_subscription(world, 5, {"crm": "42"})
    link_with_seats(world, "acct-c", sub, "team-monthly", 7, provider="stripe")
    [outcome] = world.worker.run_once()
    assert outcome.dead == 0 and outcome.sent >= 1
    assert stripe_state(world, sub) == (7, {"crm": "42", "seatsync_account": "acct-c"})


def test_stripe_subscription_moves_only_after_an_explicit_unlink(stripe_world):
    world = stripe_world
    sub = stripe_subscription(world, 5)
    link_with_seats(world, "acct-c", sub, "team-monthly", 7, provider="stripe")
    world.worker.run_once()
    # The clock is frozen at AT: the unlink is at the same instant, later by its event id.
    send(world, {"id": "c-unlink", "type": "account.unlinked", "account": "acct-c", "occurred_at": AT})
    link_with_seats(world, "acct-d", sub, "team-monthly", 3, provider="stripe")
    world.worker.run_once()
    assert mismatch_letters(world) == []
    assert stripe_state(world, sub) == (3, {"seatsync_account": "acct-d"})


@pytest.fixture
def chargebee_world(tmp_path, sandbox, chargebee_client):
    site = Site(sandbox, chargebee_client)
    site.settings(billing_mode="day", timezone="Europe/Oslo", rate_limit_per_minute=None)
    settings = Settings(database=tmp_path / "seatsync.db", mappings=REPO_MAPPINGS, chargebee_site="127",
                        chargebee_api_key="test_sandbox", chargebee_api_base=f"http://127.0.0.1:{sandbox.port}")
    db = store.open_db(settings.database)
    catalog = load_catalog(settings.mappings)
    site.cb.TimeMachine.start_afresh("delorean", {"genesis_time": APRIL_1})
    plan = catalog.plans["konfidens-solo-monthly"]
    site.price(plan.seat.price_id, "plan", plan.seat.unit_amount, currency=plan.currency, unit=plan.interval)
    yield dataclasses.make_dataclass("World", ["db", "catalog", "worker", "site", "plan"])(
        db, catalog, _worker(settings, catalog), site, plan)
    db.close()


def chargebee_state(world, sub):
    raw = dict(world.site.cb.Subscription.retrieve(sub).subscription.raw_data)
    meta = raw.get("meta_data") or {}
    return raw["subscription_items"][0]["quantity"], json.loads(meta) if isinstance(meta, str) else meta


@pytest.mark.parametrize("metadata, owner_after, quantity_after", [
    ({"seatsync_account": "acct-a"}, "acct-a", 5),  # another account's: untouched, dead letter
    ({"crm": "42"}, "acct-b", 7),  # unclaimed: claimed (other keys kept), then synced
])
def test_chargebee_meta_data_decides_like_stripe_metadata(chargebee_world, metadata, owner_after, quantity_after):
    world = chargebee_world
    world.site.customer("cust-1")
    world.site.subscribe("cust-1", "clinic-1", [(world.plan.seat.price_id, 5)], meta_data=json.dumps(metadata))
    link_with_seats(world, "acct-b", "clinic-1", world.plan.id, 7, provider="chargebee")
    world.worker.run_once()
    quantity, meta = chargebee_state(world, "clinic-1")
    assert (quantity, meta["seatsync_account"]) == (quantity_after, owner_after)
    assert {k: v for k, v in meta.items() if k != "seatsync_account"} == \
        {k: v for k, v in metadata.items() if k != "seatsync_account"}
    assert len(mismatch_letters(world)) == (1 if owner_after == "acct-a" else 0)
