"""sync_account with a fake provider on an in-memory database (github-to-sqlite style): what one pass does
with the provider's answers, and what a crash in the middle of a pass leaves behind."""

from __future__ import annotations

import time

import pytest
import stripe

from adapter import accounts, ledger, store
from adapter.billing.policy import load_catalog
from adapter.clock import format_us
from adapter.intake.parse import parse_document
from adapter.providers.translate import SubscriptionState
from adapter.sync.account import SyncOptions, sync_account
from tests.conftest import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")
PLAN = CATALOG.plans["standard-monthly"]
HOUR = 3600 * 10**6
T0 = (time.time_ns() // 1000 // 10**6) * 10**6 - 10 * HOUR  # the ledger marks accounts due on the wall clock


class FakeStripe:
    """One subscription whose quantity the test sets; ``error`` makes every write fail with it."""

    name = "stripe"

    def __init__(self, quantity: int = 0, error: Exception | None = None):
        self.quantity, self.error, self.keys = quantity, error, []

    def read(self, subscription, catalog):
        return SubscriptionState("stripe", "sub_1", "cus_1", "active", T0, T0 + 720 * HOUR, self.quantity, "si_1",
                                 PLAN.seat.price_id, now_us=T0 + 4 * HOUR)

    def send(self, spec, key):
        self.keys.append(key)
        if self.error is not None:
            raise self.error
        self.quantity = spec.quantity
        return f"req_{key}", {"quantity": spec.quantity}


@pytest.fixture
def acme(memory_db):
    """A linked Stripe account with one seat activated three hours into its period."""
    accounts.link(memory_db, "acme", provider="stripe", subscription="sub_1", plan=PLAN.id, timezone=None,
                  plans=CATALOG.plans, addons=CATALOG.addons, at_us=T0)
    ledger.record_events(memory_db, parse_document({"id": "e1", "type": "seat.activated", "account": "acme",
                                                    "occurred_at": format_us(T0 + 3 * HOUR), "user": "u1"},
                                                   plans=CATALOG.plans, addons=CATALOG.addons))
    return memory_db


def one_pass(db, provider, on_drift=None):
    now = lambda: time.time_ns() // 1000 + 10**6  # noqa: E731
    [claim] = store.claim_due_accounts(db, "w", now(), delay_us=0, lease_us=HOUR)
    outcome = None
    try:
        outcome = sync_account(db, CATALOG, {"stripe": provider}, account="acme",
                               claimed_version=claim["ledger_version"], owner="w", now_us=now,
                               options=SyncOptions(retry_attempts=1, sleep=lambda s: None), on_drift=on_drift)
    finally:
        store.release_account(db, "acme", "w", synced_version=outcome.synced_version if outcome else None)
    return outcome


def test_a_refused_call_from_an_earlier_pass_is_not_planned_and_sent_again(acme):
    first = one_pass(acme, FakeStripe(error=stripe.APIConnectionError("network down")))
    assert first.deferred and len(store.planned_calls(acme, "acme")) == 1

    refusing = FakeStripe(error=stripe.InvalidRequestError("No such subscription item", "id", http_status=400))
    second = one_pass(acme, refusing)
    assert (second.dead, second.synced_version) == (1, store.sync_state(acme, "acme")["ledger_version"])
    assert len(refusing.keys) == 1  # the planned call only: no second call under a new key
    assert [d["idempotency_key"] for d in store.dead_letters(acme)] == refusing.keys


def test_a_crash_while_recording_a_drift_leaves_nothing_and_the_retry_records_it_once(acme):
    """A drift, the last-set quantity it resets and the notification it queues commit together."""
    provider = FakeStripe(quantity=0)
    one_pass(acme, provider)  # baseline 0, then seatsync sets 1
    assert provider.quantity == 1 and store.sync_state(acme, "acme")["last_set_quantity"] == 1

    provider.quantity = 5  # someone changed it behind seatsync's back
    store.make_account_due(acme, "acme", time.time_ns() // 1000 - HOUR)

    def crash(drift):
        raise RuntimeError("killed while queueing the notification")

    with pytest.raises(RuntimeError):
        one_pass(acme, provider, on_drift=crash)
    assert store.drifts_for(acme, "acme", "sub_1") == []
    assert store.sync_state(acme, "acme")["last_set_quantity"] == 1  # rolled back with the drift

    seen = []
    one_pass(acme, provider, on_drift=seen.append)
    assert [(d["expected"], d["actual"]) for d in seen] == [(1, 5)]
    assert [(d["expected_quantity"], d["provider_quantity"]) for d in store.drifts_for(acme, "acme", "sub_1")] \
        == [(1, 5)]
    assert provider.quantity == 1  # and the desired absolute quantity is set again
