"""A call planned by one pass and refused for good on the next is dead-lettered once, and never re-sent
under a new key (a fake provider on an in-memory database: what sync_account does with its answers)."""

from __future__ import annotations

import time

import stripe

from adapter import accounts, ledger, store
from adapter.intake import format_us, parse_document
from adapter.policy import load_catalog
from adapter.sync import SyncOptions, sync_account
from adapter.translate import SubscriptionState
from tests.conftest import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")
PLAN = CATALOG.plans["standard-monthly"]
HOUR = 3600 * 10**6
T0 = (time.time_ns() // 1000 // 10**6) * 10**6 - 10 * HOUR  # the ledger marks accounts due on the wall clock


class FailingStripe:
    name = "stripe"

    def __init__(self, error: Exception):
        self.error, self.keys = error, []

    def read(self, subscription, catalog):
        return SubscriptionState("stripe", "sub_1", "cus_1", "active", T0, T0 + 720 * HOUR, 0, "si_1",
                                 PLAN.seat.price_id, now_us=T0 + 4 * HOUR)

    def send(self, spec, key):
        self.keys.append(key)
        raise self.error


def one_pass(db, provider):
    now = lambda: time.time_ns() // 1000 + 10**6  # noqa: E731
    [claim] = store.claim_due_accounts(db, "w", now(), delay_us=0, lease_us=HOUR)
    outcome = sync_account(db, CATALOG, {"stripe": provider}, account="acme", claimed_version=claim["ledger_version"],
                           owner="w", now_us=now, options=SyncOptions(retry_attempts=1, sleep=lambda s: None))
    store.release_account(db, "acme", "w", synced_version=outcome.synced_version)
    return outcome


def test_a_refused_call_from_an_earlier_pass_is_not_planned_and_sent_again(memory_db):
    accounts.link(memory_db, "acme", provider="stripe", subscription="sub_1", plan=PLAN.id, timezone=None,
                  plans=CATALOG.plans, addons=CATALOG.addons, at_us=T0)
    ledger.record_events(memory_db, parse_document({"id": "e1", "type": "seat.activated", "account": "acme",
                                                    "occurred_at": format_us(T0 + 3 * HOUR), "user": "u1"},
                                                   plans=CATALOG.plans, addons=CATALOG.addons))
    first = one_pass(memory_db, FailingStripe(stripe.APIConnectionError("network down")))
    assert first.deferred and len(store.planned_calls(memory_db, "acme")) == 1

    refusing = FailingStripe(stripe.InvalidRequestError("No such subscription item", "id", http_status=400))
    second = one_pass(memory_db, refusing)
    assert (second.dead, second.synced_version) == (1, store.sync_state(memory_db, "acme")["ledger_version"])
    assert len(refusing.keys) == 1  # the planned call only: no second call under a new key
    assert [d["idempotency_key"] for d in store.dead_letters(memory_db)] == refusing.keys
