"""Cancellation and pause in the mirror (issue 19): read by each provider, notified once, resumed sync.

The objects are the recorded fixtures with their lifecycle fields set as each SDK's ``Subscription``
documents them; every save goes through ``mirror.save_subscription`` like a webhook's would.
"""

from __future__ import annotations

from adapter import store
from adapter.callbacks import mirror
from adapter.providers.base import Lifecycle
from adapter.providers.chargebee import normalize as chargebee
from adapter.providers.stripe import normalize as stripe
from tests.fixtures import load


def test_stripe_lifecycle_reads_cancellation_and_pause():
    sub = load("stripe/subscription.json")
    assert stripe.lifecycle(sub) == Lifecycle("active")
    assert stripe.lifecycle(sub | {"cancel_at": 1_777_000_000, "cancel_at_period_end": True}) == \
        Lifecycle("cancelling", 1_777_000_000_000_000)
    assert stripe.lifecycle(sub | {"status": "canceled", "ended_at": 1_776_000_000}) == \
        Lifecycle("cancelled", 1_776_000_000_000_000)
    paused = stripe.lifecycle(sub | {"pause_collection": {"behavior": "void", "resumes_at": 1_778_000_000}})
    assert paused == Lifecycle("paused", None, 1_778_000_000_000_000) and not paused.writable
    assert Lifecycle("cancelling", 1).writable and not Lifecycle("cancelled", 1).writable


def test_chargebee_lifecycle_reads_cancellation_and_pause():
    sub = load("chargebee/subscription_created.json")["content"]["subscription"]
    assert chargebee.lifecycle(sub | {"status": "active"}) == Lifecycle("active")
    assert chargebee.lifecycle(sub | {"status": "non_renewing", "cancelled_at": 1_777_000_000}).state == "cancelling"
    assert chargebee.lifecycle(sub | {"status": "cancelled", "cancelled_at": 1_776_000_000}) == \
        Lifecycle("cancelled", 1_776_000_000_000_000)
    assert chargebee.lifecycle(sub | {"status": "paused", "pause_date": 5, "resume_date": 9}) == \
        Lifecycle("paused", 5_000_000, 9_000_000)
    assert chargebee.lifecycle(sub | {"status": "active", "pause_date": 5}) == Lifecycle("pausing", 5_000_000)


def _types(db) -> list[str]:
    return sorted(r["type"] for r in store.delivery_rows(db, limit=100))


def test_a_scheduled_cancellation_and_its_execution_notify_once(db):
    sub = load("stripe/subscription.json")
    mirror.save_subscription(db, sub, provider="stripe", version=1)
    mirror.save_subscription(db, sub | {"cancel_at": 1_777_000_000}, provider="stripe", version=2)
    mirror.save_subscription(db, sub | {"cancel_at": 1_777_000_000}, provider="stripe", version=3)  # redelivered
    mirror.save_subscription(db, sub | {"status": "canceled", "cancel_at": 1_777_000_000, "ended_at": 1_777_000_000},
                             provider="stripe", version=4)
    assert _types(db) == ["subscription.cancelled"]
    [row] = store.delivery_rows(db)
    import json

    data = json.loads(row["body"])["data"]
    assert data["account"] == "acct_acme" and data["state"] == "cancelling"
    assert data["effective_at"].startswith("2026-04-24")


def test_pause_then_resume_notifies_each_once(db):
    sub = load("chargebee/subscription_created.json")["content"]["subscription"] | {"status": "active"}
    store.mark_accounts_dirty(db, ["acct_x"], 1)
    db.execute("UPDATE sync_state SET synced_version = ledger_version WHERE account = 'acct_x'")
    mirror.save_subscription(db, sub | {"resource_version": 1}, provider="chargebee")
    mirror.save_subscription(db, sub | {"status": "paused", "pause_date": 100, "resource_version": 2},
                             provider="chargebee")
    mirror.save_subscription(db, sub | {"status": "paused", "pause_date": 100, "resource_version": 2},
                             provider="chargebee")  # stale: the ordering guard skips it
    assert _types(db) == ["subscription.paused"]
    mirror.save_subscription(db, sub | {"status": "active", "resource_version": 3}, provider="chargebee")
    assert _types(db) == ["subscription.paused", "subscription.resumed"]
