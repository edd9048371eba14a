"""The worker's side: raw events → mirror + notifications, idempotent, order-proof, concurrent-safe.

Runs on captured-shape JSON with an in-memory provider for re-fetches; the
same properties are checked against the sandbox in test_mirror_sandbox.py.
"""

import copy
import json
import random
import threading
from dataclasses import replace

import pytest

from adapter import store
from adapter.callbacks import events as provider_events
from adapter.callbacks import mirror
from adapter.store.connection import open_db
from tests.fixtures import FakeProvider, load, stripe_event

CLOCK = [1_800_000_000_000_000]


def clock():
    return CLOCK[0]


def record_all(db, events):
    for event in events:
        if "event_type" in event:
            provider_events.record_event(db, "chargebee", event, json.dumps(event))
        else:
            provider_events.record_event(db, "stripe", event, json.dumps(event))


def process(db, settings, fake=None, **kwargs):
    fetchers = {"stripe": lambda: fake, "chargebee": lambda: fake} if fake is not None else {}
    return provider_events.process_pending_provider_events(db, settings, fetchers=fetchers, clock=clock, **kwargs)


def stripe_history():
    """A subscription's life in Stripe events: create, two seat changes in one second, renewal, failed payment
    retried by Stripe, then paid; plus the final objects a re-fetch returns."""
    sub = load("stripe/subscription.json")
    q6 = copy.deepcopy(sub)
    q6["items"]["data"][0]["quantity"] = 6
    q8 = copy.deepcopy(sub)
    q8["items"]["data"][0]["quantity"] = 8
    failed = load("stripe/invoice_payment_failed.json")
    retried = failed | {"attempt_count": 2, "next_payment_attempt": 1770076800}
    paid = failed | {"status": "paid", "amount_paid": 8000, "amount_remaining": 0, "attempt_count": 3,
                     "next_payment_attempt": None}
    past_due = q8 | {"status": "past_due", "latest_invoice": "in_1Failed00"}
    recovered = q8 | {"status": "active", "latest_invoice": "in_1Failed00"}
    credit_note = load("stripe/credit_note.json") | {"invoice": "in_1Failed00"}
    events = [
        stripe_event("customer.created", load("stripe/customer.json"), created=1767225600, event_id="evt_01"),
        stripe_event("customer.subscription.created", sub, created=1767225600, event_id="evt_02"),
        stripe_event("invoiceitem.created", load("stripe/invoiceitem.json"), created=1768435200, event_id="evt_03"),
        stripe_event("customer.subscription.updated", q6, created=1768435200, event_id="evt_04"),
        stripe_event("customer.subscription.updated", q8, created=1768435200, event_id="evt_05"),
        stripe_event("invoice.payment_failed", failed, created=1769904000, event_id="evt_06"),
        stripe_event("customer.subscription.updated", past_due, created=1769904001, event_id="evt_07"),
        stripe_event("invoice.payment_failed", retried, created=1769990400, event_id="evt_08"),
        stripe_event("invoice.paid", paid, created=1770076800, event_id="evt_09"),
        stripe_event("customer.subscription.updated", recovered, created=1770076800, event_id="evt_10"),
        stripe_event("credit_note.created", credit_note, created=1770076801, event_id="evt_11"),
    ]
    final = {("customer", "cus_T1a2b3c4"): load("stripe/customer.json"), ("subscription", "sub_1Q2w3e4r"): recovered,
             ("invoiceitem", "ii_Prorate01"): load("stripe/invoiceitem.json"), ("invoice", "in_1Failed00"): paid,
             ("credit_note", "cn_1Credit01"): credit_note}
    return events, final


def chargebee_history():
    return [load(f"chargebee/{name}.json") for name in
            ("subscription_created", "subscription_changed", "payment_failed", "credit_note_created")]


def mirror_state(db, provider):
    return mirror.comparable(db, provider)


def deliveries(db):
    return sorted((r["type"], r["account"], json.loads(r["body"])["data"].get("invoice")) for r in
                  store.delivery_rows(db, limit=1000))


@pytest.fixture
def reference(settings, tmp_path):
    """The mirror built from every event once, in order."""
    def build(events, final):
        db = open_db(tmp_path / f"reference-{random.random()}.db")
        record_all(db, events)
        process(db, settings, FakeProvider(final))
        return db
    return build


def test_stripe_in_order_builds_the_expected_mirror(memory_db, settings):
    events, final = stripe_history()
    record_all(memory_db, events)
    report = process(memory_db, settings, FakeProvider(final))
    assert report.processed == len(events) and report.failed == 0
    items = store.mirror_rows(memory_db, "mirror_subscription_items", "stripe")
    assert [(i["id"], i["quantity"]) for i in items] == [("si_SeAt0001", 8)]
    sub = store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")
    assert sub["status"] == "active" and sub["account"] == "acct_acme"
    assert store.mirror_row(memory_db, "mirror_invoices", "stripe", "in_1Failed00")["status"] == "paid"
    assert deliveries(memory_db) == [
        ("credit.issued", "acct_acme", "in_1Failed00"),
        ("invoice.paid", "acct_acme", "in_1Failed00"),
        ("invoice.payment_failed", "acct_acme", "in_1Failed00"),  # once, though Stripe failed it twice
        ("subscription.past_due", "acct_acme", None),
    ]


@pytest.mark.parametrize("seed", range(8))
def test_stripe_every_event_three_times_in_shuffled_order_gives_the_same_mirror(settings, memory_db, reference, seed):
    events, final = stripe_history()
    expected = reference(events, final)
    deliveries_3x = [copy.deepcopy(e) for e in events for _ in range(3)]
    random.Random(seed).shuffle(deliveries_3x)
    fake = FakeProvider(final)
    # Interleave arrival and processing, as a live worker would see it.
    for start in range(0, len(deliveries_3x), 5):
        record_all(memory_db, deliveries_3x[start:start + 5])
        process(memory_db, settings, fake)
    assert mirror_state(memory_db, "stripe") == mirror_state(expected, "stripe")
    assert deliveries(memory_db) == deliveries(expected)
    assert {r["seen_count"] for r in store.provider_event_rows(memory_db)} == {3}
    assert all(r["status"] == "processed" for r in store.provider_event_rows(memory_db))


def test_stripe_same_second_event_is_settled_by_a_refetch(memory_db, settings):
    events, final = stripe_history()
    q6, q8 = events[3], events[4]  # both created at 1768435200
    fake = FakeProvider(final)
    record_all(memory_db, [events[1], q8])
    process(memory_db, settings, fake)
    assert fake.fetches == []
    record_all(memory_db, [q6])  # the older of the two same-second events arrives last
    report = process(memory_db, settings, fake)
    assert report.refetched == 1 and fake.fetches == [("subscription", "sub_1Q2w3e4r")]
    items = store.mirror_rows(memory_db, "mirror_subscription_items", "stripe")
    assert items[0]["quantity"] == 8  # the provider's state, not the stale snapshot


def test_chargebee_three_times_shuffled_gives_the_same_mirror(settings, memory_db, reference):
    events = chargebee_history()
    expected = reference(events, {})
    for seed in range(6):
        db = open_db(None)
        copies = [copy.deepcopy(e) for e in events for _ in range(3)]
        random.Random(seed).shuffle(copies)
        for event in copies:
            record_all(db, [event])
            process(db, settings)
        assert mirror_state(db, "chargebee") == mirror_state(expected, "chargebee")
        assert deliveries(db) == deliveries(expected)
    assert deliveries(expected) == [
        ("credit.issued", "acct_globex", "AzZinv0002"),
        ("invoice.payment_failed", "acct_globex", "AzZinv0002"),
        ("subscription.past_due", "acct_globex", None),
    ]


def test_chargebee_payment_failed_retries_notify_once(memory_db, settings):
    first = load("chargebee/payment_failed.json")
    retry = copy.deepcopy(first)
    retry["id"] = "ev_AzZevt0099"  # Chargebee's next dunning attempt: a new event for the same invoice
    retry["occurred_at"] += 86400
    retry["content"]["transaction"] |= {"id": "txn_AzZtxn0002", "resource_version": 1769990400000}
    record_all(memory_db, [first, retry])
    process(memory_db, settings)
    failed = [r for r in store.delivery_rows(memory_db) if r["type"] == "invoice.payment_failed"]
    assert len(failed) == 1
    assert len(store.mirror_rows(memory_db, "mirror_payments", "chargebee")) == 2


def test_refetch_failure_backs_off_then_recovers(memory_db, settings):
    events, final = stripe_history()
    fake = FakeProvider(final)
    record_all(memory_db, [events[1], events[4]])
    process(memory_db, settings, fake)
    record_all(memory_db, [events[3]])
    fake.fail_next = 1
    report = process(memory_db, settings, fake)
    assert report.postponed == 1
    [row] = store.provider_event_rows(memory_db, status="pending")
    assert row["attempts"] == 1 and row["next_attempt_us"] == CLOCK[0] + provider_events.RETRY_BASE_US
    assert process(memory_db, settings, fake).processed == 0  # not due yet
    CLOCK[0] += provider_events.RETRY_BASE_US
    try:
        assert process(memory_db, settings, fake).processed == 1
    finally:
        CLOCK[0] -= provider_events.RETRY_BASE_US


def test_an_event_that_keeps_failing_is_parked_as_failed(memory_db, settings):
    event = stripe_event("customer.subscription.updated", load("stripe/subscription.json"), created=1, event_id="e")
    record_all(memory_db, [event, stripe_event("customer.subscription.updated", load("stripe/subscription.json")
                                                | {"status": "past_due"}, created=1, event_id="f")])
    saved = CLOCK[0]
    try:
        for _ in range(provider_events.MAX_ATTEMPTS + 1):
            process(memory_db, settings, FakeProvider())  # knows nothing; no client for "chargebee"
            CLOCK[0] += provider_events.RETRY_CAP_US
    finally:
        CLOCK[0] = saved
    # The first applies; the same-second second one needs a re-fetch, which finds the object gone.
    assert [r["status"] for r in store.provider_event_rows(memory_db)] == ["processed", "processed"]
    assert store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")["deleted"] == 1


def test_missing_api_client_parks_the_event_after_max_attempts(memory_db, settings):
    invoice = load("stripe/invoice_paid.json")
    invoice["lines"]["has_more"] = True  # lines must be fetched, and there is no client
    record_all(memory_db, [stripe_event("invoice.paid", invoice, created=1, event_id="e")])
    saved = CLOCK[0]
    try:
        for _ in range(provider_events.MAX_ATTEMPTS):
            provider_events.process_pending_provider_events(memory_db, settings, fetchers={}, clock=clock)
            CLOCK[0] += provider_events.RETRY_CAP_US
    finally:
        CLOCK[0] = saved
    [row] = store.provider_event_rows(memory_db)
    assert row["status"] == "failed" and "no API client" in row["error"]
    assert store.delivery_rows(memory_db) == []


def test_chargebee_refetch_setting_trusts_only_what_chargebee_confirms(memory_db, settings):
    settings = replace(settings, chargebee_refetch_events=True)
    genuine = load("chargebee/subscription_created.json")
    forged = load("chargebee/payment_failed.json")
    fake = FakeProvider(events={genuine["id"]: genuine})
    record_all(memory_db, [genuine, forged])
    report = process(memory_db, settings, fake)
    assert report.processed == 1 and report.failed == 1
    assert ("event", forged["id"]) in fake.fetches
    assert store.mirror_row(memory_db, "mirror_subscriptions", "chargebee", "AzZsub01")["status"] == "active"
    assert store.mirror_rows(memory_db, "mirror_invoices") == []
    assert store.delivery_rows(memory_db) == []


def test_concurrent_workers_process_each_event_exactly_once(settings, tmp_path):
    path = tmp_path / "shared.db"
    setup = open_db(path)
    events = []
    for n in range(40):
        obj = load("stripe/invoice_payment_failed.json") | {"id": f"in_{n:04d}"}
        events.append(stripe_event("invoice.payment_failed", obj, created=1769904000 + n, event_id=f"evt_{n:04d}"))
    record_all(setup, events)
    errors = []

    def work(name):
        db = open_db(path, migrate=False)
        try:
            provider_events.process_pending_provider_events(db, settings, fetchers={}, owner=name, limit=3)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = store.provider_event_rows(setup)
    assert {r["status"] for r in rows} == {"processed"} and {r["attempts"] for r in rows} == {1}
    assert len(store.delivery_rows(setup, limit=100)) == 40
    setup.close()


def test_claims_hold_one_object_in_one_worker(memory_db):
    events, _ = stripe_history()
    record_all(memory_db, events)
    first = store.claim_provider_events(memory_db, "a", 0, lease_us=10, limit=3)
    second = store.claim_provider_events(memory_db, "b", 0, lease_us=10, limit=100)
    objects_a = {r["object_id"] for r in first}
    assert not objects_a & {r["object_id"] for r in second}
    assert {r["id"] for r in first}.isdisjoint(r["id"] for r in second)


MAPPING = """
[plans.seat-monthly]
name = "Seat (monthly)"
provider = "stripe"
currency = "USD"
interval = "month"
timezone = "Europe/Berlin"
proration = "second"
increase = "next_invoice"
decrease = "credit_next_invoice"
seat = { price_id = "price_seat_monthly", unit_amount = 1000 }
"""


def test_subscription_metadata_links_the_account(memory_db, settings, tmp_path):
    from adapter import accounts

    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "seats.toml").write_text(MAPPING)
    settings = replace(settings, mappings=tmp_path / "mappings")
    sub = load("stripe/subscription.json")
    record_all(memory_db, [stripe_event("customer.subscription.created", sub, created=1767225600, event_id="e1")])
    process(memory_db, settings, FakeProvider())
    linked = accounts.get_account(memory_db, "acct_acme")
    assert (linked.provider, linked.subscription, linked.plan, linked.timezone, linked.linked_us) == \
        ("stripe", "sub_1Q2w3e4r", "seat-monthly", "Europe/Berlin", 1767225600 * 1_000_000)
    # Processing the same link again records nothing new.
    record_all(memory_db, [stripe_event("customer.subscription.updated", sub | {"status": "past_due"},
                                        created=1767225601, event_id="e2")])
    process(memory_db, settings, FakeProvider())
    assert accounts.get_account(memory_db, "acct_acme").event_id == linked.event_id


def test_subscription_without_a_matching_plan_is_mirrored_but_not_linked(memory_db, settings):
    from adapter import accounts

    record_all(memory_db, [stripe_event("customer.subscription.created", load("stripe/subscription.json"),
                                        created=1767225600, event_id="e1")])
    process(memory_db, settings, FakeProvider())
    assert accounts.get_account(memory_db, "acct_acme") is None
    assert store.mirror_row(memory_db, "mirror_subscriptions", "stripe", "sub_1Q2w3e4r")["account"] == "acct_acme"
