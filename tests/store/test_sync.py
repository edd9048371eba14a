"""Sync state, leases and dead letters in the store (in-memory database)."""

from adapter import store

SECOND = 1_000_000


def test_a_dirty_account_is_due_only_after_the_coalescing_delay(memory_db):
    store.mark_accounts_dirty(memory_db, ["acme"], now_us=100 * SECOND)
    assert store.claim_due_accounts(memory_db, "w1", 101 * SECOND, delay_us=2 * SECOND, lease_us=30 * SECOND) == []
    claimed = store.claim_due_accounts(memory_db, "w1", 102 * SECOND, delay_us=2 * SECOND, lease_us=30 * SECOND)
    assert claimed == [{"account": "acme", "ledger_version": 1}]


def test_one_worker_per_account_until_the_lease_expires(memory_db):
    store.mark_accounts_dirty(memory_db, ["acme"], now_us=0)
    assert store.claim_due_accounts(memory_db, "w1", 10 * SECOND, delay_us=0, lease_us=30 * SECOND)
    assert store.claim_due_accounts(memory_db, "w2", 20 * SECOND, delay_us=0, lease_us=30 * SECOND) == []
    # w1 died: its lease runs out and w2 takes over.
    assert store.claim_due_accounts(memory_db, "w2", 41 * SECOND, delay_us=0, lease_us=30 * SECOND)
    assert not store.holds_lease(memory_db, "acme", "w1", 41 * SECOND)
    assert store.holds_lease(memory_db, "acme", "w2", 41 * SECOND)


def test_release_with_the_claimed_version_keeps_later_changes_due(memory_db):
    store.mark_accounts_dirty(memory_db, ["acme"], now_us=0)
    [claim] = store.claim_due_accounts(memory_db, "w1", SECOND, delay_us=0, lease_us=30 * SECOND)
    store.mark_accounts_dirty(memory_db, ["acme"], now_us=2 * SECOND)  # arrives while w1 works
    store.release_account(memory_db, "acme", "w1", synced_version=claim["ledger_version"])
    state = store.sync_state(memory_db, "acme")
    assert (state["ledger_version"], state["synced_version"]) == (2, 1)
    assert state["dirty_since_us"] == 0  # still due
    [again] = store.claim_due_accounts(memory_db, "w1", 3 * SECOND, delay_us=0, lease_us=30 * SECOND)
    store.release_account(memory_db, "acme", "w1", synced_version=again["ledger_version"])
    assert store.sync_state(memory_db, "acme")["dirty_since_us"] is None
    assert store.claim_due_accounts(memory_db, "w1", 4 * SECOND, delay_us=0, lease_us=30 * SECOND) == []


def _call(account="acme", n=0, **extra):
    return {"account": account, "provider": "stripe", "subscription": "sub_1", "version": 1, "seq": n,
            "idempotency_key": f"seatsync:sub_1:1:{n}", "kind": "quantity", "operation": "subscription_items.update",
            "target": "si_1", "params": "{}", "quantity": 3 + n, "effective_us": n, "planned_us": 0, **extra}


def test_planned_calls_keep_an_account_due_and_dead_letters_stop_the_rest(memory_db):
    store.mark_accounts_dirty(memory_db, ["acme"], now_us=0)
    [claim] = store.claim_due_accounts(memory_db, "w1", SECOND, delay_us=0, lease_us=30 * SECOND)
    first, second = store.plan_calls(memory_db, [_call(n=0), _call(n=1)])
    store.release_account(memory_db, "acme", "w1", synced_version=claim["ledger_version"])
    # The planned calls were never confirmed (say the worker crashed): the account is due again.
    assert store.claim_due_accounts(memory_db, "w2", 2 * SECOND, delay_us=0, lease_us=30 * SECOND)
    [call, _] = store.planned_calls(memory_db, "acme")
    dead = store.dead_letter_call(memory_db, call, code="resource_missing", status=404, reason="No such subscription",
                                  request_id="req_9", now_us=3 * SECOND)
    assert store.planned_calls(memory_db, "acme") == []
    [letter] = store.dead_letters(memory_db)
    assert (letter["id"], letter["reason"], letter["code"]) == (dead, "No such subscription", "resource_missing")
    assert store.retry_dead_letter(memory_db, dead, now_us=4 * SECOND)["account"] == "acme"
    assert store.dead_letters(memory_db) == []
    assert store.sync_state(memory_db, "acme")["synced_version"] == 0


def test_pushed_timeline_and_hourly_count(memory_db):
    [call_id] = store.plan_calls(memory_db, [_call(n=0)])
    store.complete_call(memory_db, call_id, request_id="req_1", response="{}", completed_us=5 * SECOND)
    assert store.succeeded_quantity_calls(memory_db, "acme", "sub_1") \
        == [{"effective_us": 0, "quantity": 3, "completed_us": 5 * SECOND}]
    assert store.quantity_calls_since(memory_db, "sub_1", 0) == 1
    assert store.quantity_calls_since(memory_db, "sub_1", 6 * SECOND) == 0
