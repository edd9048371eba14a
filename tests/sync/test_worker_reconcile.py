"""The worker's scheduled reconcile run (issue 11 item 2): once per SEATSYNC_RECONCILE_INTERVAL on the worker's
clock (injected here: nothing sleeps on the wall clock), over the window `seatsync reconcile` takes with none
given, stored; off at 0; two workers never both run one."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from adapter import store
from adapter.config import Settings
from adapter.reconcile import runs
from adapter.sync.worker import Worker
from tests.reconcile.test_report import NOW, US, account, catalog  # noqa: F401
from tests.reconcile.test_runs import Clock
from tests.support.provisioning import REPO_MAPPINGS

HOUR = 3600


@pytest.fixture
def settings(tmp_path, catalog):
    database = tmp_path / "seatsync.db"
    db = store.open_db(database)
    account(db, catalog)
    db.execute("UPDATE mirror_subscription_items SET quantity = 9")  # seat drift: a run has something to store
    db.close()
    return Settings(database=database, mappings=REPO_MAPPINGS, reconcile_interval=HOUR)


def runs_stored(settings):
    db = store.open_db(settings.database, migrate=False)
    try:
        return list(db.query("SELECT id, trigger, status, started_us, since_us, until_us FROM reconcile_runs "
                             "ORDER BY id"))
    finally:
        db.close()


def test_the_worker_runs_reconcile_once_per_interval(settings, catalog):
    clock = Clock(NOW * US)
    worker = Worker(settings, catalog=catalog, providers={}, now_us=clock)
    first = worker.run_reconcile_if_due()
    assert first is not None
    for _ in range(59):  # every minute of the next hour: not due
        clock.tick(60)
        assert worker.run_reconcile_if_due() is None
    clock.tick(59)
    assert worker.run_reconcile_if_due() is None  # 3599 s after the first
    clock.tick(1)
    second = worker.run_reconcile_if_due()
    assert second is not None and second > first
    stored = runs_stored(settings)
    assert [(r["trigger"], r["status"]) for r in stored] == [("scheduled", "done")] * 2
    # The window of `seatsync reconcile` with none given: from the beginning up to the worker's now.
    assert (stored[0]["since_us"], stored[0]["until_us"]) == (0, NOW * US)
    assert stored[1]["until_us"] == NOW * US + HOUR * US
    db = store.open_db(settings.database, migrate=False)
    try:
        last = runs.last_run(db)
        assert last is not None and last.row["id"] == second
        assert [d.kind for d in last.report.differences] == ["seat_drift"]
    finally:
        db.close()


def test_an_interval_of_zero_turns_the_schedule_off(settings, catalog):
    worker = Worker(replace(settings, reconcile_interval=0), catalog=catalog, providers={}, now_us=Clock(NOW * US))
    assert worker.run_reconcile_if_due() is None
    assert runs_stored(settings) == []


def test_two_workers_due_at_once_store_one_run(settings, catalog):
    clock = Clock(NOW * US)
    workers = [Worker(settings, catalog=catalog, providers={}, now_us=clock, owner=f"w{n}") for n in range(2)]
    results: list[int | None] = []
    barrier = threading.Barrier(2)

    def run(worker):
        barrier.wait()
        results.append(worker.run_reconcile_if_due())

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 and results.count(None) == 1
    assert len(runs_stored(settings)) == 1


def test_a_stopping_worker_ends_its_run_as_failed(settings, catalog):
    worker = Worker(settings, catalog=catalog, providers={}, now_us=Clock(NOW * US))
    with pytest.raises(runs.RunStopped):
        worker.run_reconcile_if_due(stopping=lambda: True)
    [row] = runs_stored(settings)
    assert row["status"] == "failed"
