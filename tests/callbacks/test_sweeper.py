"""The missed-event sweeper: watermark, overlap, the same idempotent intake, on a schedule."""

from __future__ import annotations

from adapter import store
from adapter.callbacks import events as provider_events
from adapter.callbacks import sweeper
from adapter.providers import registry
from tests.fixtures import load, stripe_event


def events(*created):
    return [stripe_event("customer.updated", load("stripe/customer.json") | {"name": f"n{c}"}, created=c,
                         event_id=f"evt_{c}") for c in created]


class Lister:
    def __init__(self, available):
        self.available = available
        self.calls = []

    def __call__(self, since):
        self.calls.append(since)
        return [e for e in self.available if since is None or e["created"] >= since]


def test_first_sweep_lists_everything_and_records_only_unseen_events(memory_db):
    known = events(100)[0]
    provider_events.record_event(memory_db, "stripe", known, "{}")
    lister = Lister(events(100, 200, 300))
    report = sweeper.sweep(memory_db, "stripe", lister, now_us=1)
    assert (report.listed, report.recovered, report.watermark) == (3, 2, 300)
    assert lister.calls == [None]
    rows = store.provider_event_rows(memory_db)
    assert [(r["event_id"], r["source"]) for r in rows] == [("evt_100", "webhook"), ("evt_200", "sweeper"),
                                                             ("evt_300", "sweeper")]
    assert {r["seen_count"] for r in rows} == {1}


def test_next_sweep_starts_at_the_watermark_minus_the_overlap(memory_db):
    lister = Lister(events(10_000))
    sweeper.sweep(memory_db, "stripe", lister, now_us=1)
    lister.available += events(10_050)
    report = sweeper.sweep(memory_db, "stripe", lister, now_us=2)
    assert lister.calls[1] == 10_000 - registry.get("stripe").sweep_overlap_seconds
    assert report.recovered == 1 and report.watermark == 10_050


def test_chargebee_events_use_occurred_at(memory_db):
    event = load("chargebee/payment_failed.json")
    report = sweeper.sweep(memory_db, "chargebee", lambda since: [event], now_us=1)
    assert report.recovered == 1 and report.watermark == event["occurred_at"]
    assert store.provider_event_rows(memory_db)[0]["type"] == "payment_failed"


def test_sweep_if_due_respects_the_interval_and_survives_outages(memory_db, settings):
    def broken(since):
        raise ConnectionError("provider down")

    lister = Lister(events(5))
    listers = {"stripe": lister, "chargebee": broken}
    first = sweeper.sweep_if_due(memory_db, settings, now_us=0, listers=listers)
    assert [r.provider for r in first] == ["stripe"]
    assert sweeper.sweep_if_due(memory_db, settings, now_us=sweeper.SWEEP_INTERVAL_US - 1, listers=listers) == []
    again = sweeper.sweep_if_due(memory_db, settings, now_us=sweeper.SWEEP_INTERVAL_US, listers=listers)
    assert [r.provider for r in again] == ["stripe"] and len(lister.calls) == 2
    assert store.get_watermark(memory_db, sweeper.last_run_key("chargebee")) == str(sweeper.SWEEP_INTERVAL_US)


def test_no_provider_keys_means_nothing_to_sweep(memory_db, settings):
    assert sweeper.provider_listers(settings) == {}
    assert sweeper.sweep_if_due(memory_db, settings, now_us=0) == []
