"""Issue 18's measurement, through the sandbox: an 11-seat Stripe account settled over 8 waves of ordinary
changes (three adds and three removals seconds apart each), then made due again three times (what
``reconcile --fix``, ``dead-letters retry`` or a crash before release do).

Against the previous planner (commit 163e97b, seat-weighted-mean pairs compared with its own pushed
instants) this scenario pushed 14, 11, 19, 11, 30, 11, 52, 11, 55, 11, 102, 11, 105, 11, 108, ... seats
while the ledger never left 11-12, and re-planning the settled account sent 6 more writes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from adapter import store
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.support import scenarios as S
from tests.support.sandbox_fixtures import stripe_customer_on_clock


def test_an_eleven_seat_account_is_never_pushed_beyond_its_ledger_and_replanning_sends_nothing(
        tmp_path, sandbox, stripe_client):
    harness = S.stripe_harness(tmp_path, sandbox, stripe_client)
    db = store.open_db(harness.settings.database)
    plan = harness.catalog.plans["standard-monthly"]
    start = datetime(2026, 4, 1, tzinfo=UTC)
    clock, customer = stripe_customer_on_clock(stripe_client, int(start.timestamp()))
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [
        {"price": plan.seat.price_id, "quantity": 11}, {"price": plan.base_fee.price_id, "quantity": 1}]})
    users = [f"u{i}" for i in range(11)]

    def record(events):
        record_events(db, parse_document({"events": events}, plans=harness.catalog.plans,
                                         addons=harness.catalog.addons))

    def settle():
        worker = Worker(harness.settings, catalog=harness.catalog, now_us=now,
                        config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))
        while worker.run_once():
            pass
        worker._pool.shutdown()

    now = S.MovableNow()
    record([{"id": "link", "type": "account.linked", "account": "a", "occurred_at": start.isoformat(),
             "provider": "stripe", "subscription": sub.id, "plan": plan.id},
            {"id": "snap", "type": "account.seats_snapshot", "account": "a", "occurred_at": start.isoformat(),
             "users": users}])
    settle()
    rng, added, at = random.Random(18), 0, start + timedelta(days=3)
    for _ in range(8):
        at += timedelta(days=2)
        stripe_client.v1.test_helpers.test_clocks.advance(
            clock.id, {"frozen_time": int((at + timedelta(minutes=2)).timestamp())})
        events = []
        for k in range(6):
            t = (at + timedelta(seconds=7 * k + rng.randint(0, 5))).isoformat()
            if k % 2 == 0:
                added += 1
                users.append(f"n{added}")
                events.append({"id": f"on{added}", "type": "seat.activated", "account": "a", "occurred_at": t,
                               "user": f"n{added}"})
            else:
                user = users.pop(rng.randrange(len(users)))
                events.append({"id": f"off-{user}", "type": "seat.deactivated", "account": "a", "occurred_at": t,
                               "user": user})
        record(events)
        settle()
    pushed = [row["quantity"] for row in db.query(
        "SELECT quantity FROM provider_calls WHERE status = 'succeeded' AND kind = 'quantity' ORDER BY id")]
    assert pushed and set(pushed) <= {11, 12}, pushed  # the ledger's range in every wave
    writes = len(pushed)
    for _ in range(3):
        store.make_account_due(db, "a", now())
        settle()
    assert db.execute("SELECT COUNT(*) FROM provider_calls WHERE status = 'succeeded'").fetchone()[0] == writes
