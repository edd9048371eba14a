"""Stored reconcile runs (issue 11 item 2): a run streams its differences into ``reconcile_run_differences``,
its totals are the stored differences' sums, and read back it is the live report; one run at a time; only
the last runs are kept; a failed run says why."""

from __future__ import annotations

from dataclasses import fields

import pytest

from adapter import reconcile, store
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.reconcile import runs
from adapter.reconcile.differences import Difference
from tests.reconcile.test_report import APRIL_1, MAY_1, NOW, US, account, catalog, iso, lines_of  # noqa: F401

UNTIL = (MAY_1 + 86400) * US
LEASE = runs.LEASE_US


class Clock:
    """An injected clock: each call returns the current instant; ``tick`` moves it on."""

    def __init__(self, at_us: int):
        self.at_us = at_us

    def __call__(self) -> int:
        return self.at_us

    def tick(self, seconds: float) -> None:
        self.at_us += int(seconds * US)


def faulted(db, catalog):
    """Four accounts: an unpaid invoice with a late change, seat drift, a wrong amount, a clean one; and seat
    events of an account never linked."""
    sub = account(db, catalog, name="acme")
    invoice = lines_of(db, sub)[0]["invoice"]
    db.execute("UPDATE mirror_invoices SET status = 'open', amount_due = 3250 WHERE id = ?", [invoice])
    store.record_late_change(db, "acme", sub, kind="across_period", instant_us=(MAY_1 - 60) * US, delta=1,
                             now_us=(MAY_1 + 60) * US)
    account(db, catalog, name="drifted")
    db.execute("UPDATE mirror_subscription_items SET quantity = 9 WHERE subscription = 'sub_drifted'")
    wrong = account(db, catalog, name="wrong")
    db.execute("UPDATE mirror_invoice_lines SET amount = amount + 50 WHERE id = ?", [lines_of(db, wrong)[0]["id"]])
    account(db, catalog, name="calm")
    record_events(db, parse_document({"events": [
        {"id": "ghost-1", "type": "seat.activated", "account": "ghost", "occurred_at": iso(APRIL_1), "user": "u"}]},
        plans=catalog.plans, addons=catalog.addons))


def live(db, catalog):
    return reconcile.reconcile(db, catalog, since_us=0, until_us=UNTIL, now_us=NOW * US)


def store_run(db, catalog, clock, **kwargs):
    kwargs.setdefault("trigger", "cli")
    return runs.run_and_store(db, catalog, owner="test", since_us=0, until_us=UNTIL, now_us=clock, **kwargs)


def test_the_difference_columns_are_the_difference_fields():
    assert store.DIFFERENCE_COLUMNS == tuple(f.name for f in fields(Difference))


def test_a_stored_run_reads_back_equal_to_the_live_report(memory_db, catalog):
    faulted(memory_db, catalog)
    expected = live(memory_db, catalog)
    assert {"invoice_unpaid", "late_change", "seat_drift", "wrong_amount", "unlinked_seats"} <= set(expected.by_kind)
    clock = Clock(NOW * US)
    # One difference per write: the run streams, every batch renewing the lease.
    run_id = store_run(memory_db, catalog, clock, flush_rows=1)
    assert run_id is not None
    back = runs.last_run(memory_db)
    assert back is not None and back.row["id"] == run_id and back.row["status"] == "done"
    assert back.report.as_dict() == expected.as_dict()
    summary = expected.summary()
    assert back.row["totals"] == {"by_kind": summary["by_kind"], "money_at_stake": summary["money_at_stake"],
                                  "receivables": summary["receivables"]}
    assert back.row["totals"]["receivables"] == {"USD": 3250}
    assert back.row["differences"] == len(expected.differences)
    assert (back.row["accounts"], back.row["invoices"]) == (expected.accounts, expected.invoices)
    assert back.row["started_us"] == NOW * US and back.row["finished_us"] == NOW * US
    info = back.info(NOW * US + 90 * US)
    assert info["age_seconds"] == 90 and info["trigger"] == "cli" and info["until"] == expected.summary()["until"]
    # A kind's differences only, for the page's filter.
    only = runs.last_run(memory_db, kind="seat_drift")
    assert only is not None and [d.account for d in only.report.differences] == ["drifted"]


def test_a_clean_world_stores_a_clean_run(memory_db, catalog):
    account(memory_db, catalog)
    run_id = store_run(memory_db, catalog, Clock(NOW * US))
    back = runs.last_run(memory_db)
    assert back is not None and back.row["id"] == run_id and back.report.clean
    assert back.row["totals"] == {"by_kind": {}, "money_at_stake": {}, "receivables": {}}


def test_one_run_at_a_time_and_a_dead_runs_lease_runs_out(memory_db, catalog):
    account(memory_db, catalog)
    clock = Clock(NOW * US)
    held = store.begin_reconcile_run(memory_db, owner="other", trigger="scheduled", now_us=clock(), since_us=0,
                                     until_us=UNTIL, tolerance=1, lease_us=LEASE)
    assert held is not None
    assert store_run(memory_db, catalog, clock) is None  # the other process's run holds the lease
    assert runs.in_progress(memory_db, clock()).startswith(f"run {held} (scheduled, other)")
    clock.tick(LEASE / US)  # it never renewed: killed
    run_id = store_run(memory_db, catalog, clock)
    assert run_id is not None and run_id != held
    assert store.reconcile_run(memory_db, held)["status"] == "abandoned"
    with pytest.raises(LookupError):  # the abandoned run's process wakes up: it may not write into it
        store.add_reconcile_differences(memory_db, held, "other", [], now_us=clock(), lease_us=LEASE)


def test_only_the_last_runs_are_kept(memory_db, catalog):
    faulted(memory_db, catalog)
    clock = Clock(NOW * US)
    ids = []
    for _ in range(5):
        ids.append(store_run(memory_db, catalog, clock, keep=3))
        clock.tick(60)
    kept = [row["id"] for row in memory_db.query("SELECT id FROM reconcile_runs ORDER BY id")]
    assert kept == ids[-3:]
    runs_with_rows = {row["run_id"] for row in memory_db.query("SELECT DISTINCT run_id FROM reconcile_run_differences")}
    assert runs_with_rows == set(ids[-3:])


def test_a_failed_run_is_marked_with_why_and_raises(memory_db, catalog, monkeypatch):
    faulted(memory_db, catalog)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runs, "reconcile", broken)
    with pytest.raises(RuntimeError):
        store_run(memory_db, catalog, Clock(NOW * US))
    [row] = memory_db.query("SELECT * FROM reconcile_runs")
    assert row["status"] == "failed" and "disk on fire" in row["failure"]
    assert runs.last_run(memory_db) is None  # a failed run is never shown as the last report
    monkeypatch.undo()
    assert store_run(memory_db, catalog, Clock(NOW * US)) is not None  # and holds no lease


def test_an_interval_makes_a_run_due_once_per_interval(memory_db, catalog):
    account(memory_db, catalog)
    clock = Clock(NOW * US)
    hour = 3600 * US
    assert store_run(memory_db, catalog, clock, trigger="scheduled", interval_us=hour) is not None
    clock.tick(3599)
    assert store_run(memory_db, catalog, clock, trigger="scheduled", interval_us=hour) is None
    # An on-demand run is not the schedule's: it neither waits for it nor delays it.
    assert store_run(memory_db, catalog, clock) is not None
    clock.tick(1)
    assert store_run(memory_db, catalog, clock, trigger="scheduled", interval_us=hour) is not None
