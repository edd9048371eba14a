"""Reconciliation's per-account questions use an index on their whole WHERE, never a scan of a provider's mirror
(issue 11: planned on the primary key by ``provider`` alone, each question read every row of the provider, and a
full run grew with the square of the accounts). Checked with EXPLAIN QUERY PLAN on a database whose statistics
were gathered the way seatsync gathers them (ANALYZE after migrations)."""

from __future__ import annotations

import pytest

from adapter import store
from adapter.store.reconcile import PER_ACCOUNT_QUERIES


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("plans") / "seatsync.db")
    conn = db.conn
    conn.execute("BEGIN")
    for provider in ("stripe", "chargebee"):
        for s in range(40):
            sub = f"sub{s}"
            conn.execute("INSERT INTO mirror_subscription_items (provider, id, subscription, price, quantity, raw) "
                         "VALUES (?, ?, ?, 'p', 3, '{}')", [provider, f"si{s}", sub])
            conn.execute("INSERT INTO mirror_pending_charges (provider, id, subscription, amount, raw) "
                         "VALUES (?, ?, ?, 5, '{}')", [provider, f"pc{s}", sub])
            conn.execute("INSERT INTO mirror_credit_notes (provider, id, subscription, created, raw) "
                         "VALUES (?, ?, ?, ?, '{}')", [provider, f"cn{s}", sub, s])
            for i in range(12):
                invoice = f"in{s}-{i}"
                conn.execute("INSERT INTO mirror_invoices (provider, id, subscription, created, raw) "
                             "VALUES (?, ?, ?, ?, '{}')", [provider, invoice, sub, i])
                conn.executemany("INSERT INTO mirror_invoice_lines (provider, id, invoice, amount, raw) "
                                 "VALUES (?, ?, ?, 1, '{}')",
                                 [(provider, f"il{s}-{i}-{n}", invoice) for n in range(18)])
    conn.execute("COMMIT")
    store.optimize(db, full=True)
    yield db
    db.close()


@pytest.mark.parametrize("name", sorted(PER_ACCOUNT_QUERIES))
def test_each_per_account_question_searches_an_index_on_its_whole_key(db, name):
    sql, params = PER_ACCOUNT_QUERIES[name]
    plan = [row[3] for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert searches, plan
    for step in plan:
        assert not step.startswith("SCAN"), plan  # a full scan of a table
        assert "AUTOMATIC" not in step, plan  # an index SQLite builds per statement
        assert not step.endswith("(provider=?)"), plan  # every row of one provider: the plan
    if name != "late_changes":  # late changes are few per account; sorting them is cheap
        assert not any("TEMP B-TREE" in step for step in plan), plan


def test_statistics_are_gathered_when_a_migration_runs(tmp_path):
    """A database from before the reconcile indexes, with rows and no statistics: opening it migrates and
    analyses, so the next reconcile is planned with the new indexes and real row counts."""
    from adapter.store.connection import open_db
    from adapter.store.migrations import MIGRATIONS

    old = open_db(tmp_path / "old.db", migrate=False)
    MIGRATIONS.apply(old, stop_before="0910_reconcile_indexes")
    old.conn.executemany("INSERT INTO mirror_invoice_lines (provider, id, invoice, amount, raw) "
                         "VALUES ('stripe', ?, ?, 1, '{}')", [(f"il{n}", f"in{n // 10}") for n in range(200)])
    assert not old.conn.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchall()
    old.close()
    db = store.open_db(tmp_path / "old.db")
    try:
        stats = dict(db.conn.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'mirror_invoice_lines'"))
    finally:
        db.close()
    assert stats["mirror_invoice_lines_invoice"].startswith("200 ")


def test_the_worker_refreshes_statistics_hourly(tmp_path):
    db = store.open_db(tmp_path / "seatsync.db")
    try:
        hour = 3600 * 1_000_000
        assert store.optimize_if_due(db, 10 * hour) is True
        assert store.optimize_if_due(db, 10 * hour + hour - 1) is False
        assert store.optimize_if_due(db, 11 * hour) is True
    finally:
        db.close()
