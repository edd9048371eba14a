"""Migrations 0910 on: reconciliation at scale (indexes, stored runs) and the ops pages' audit trail."""

from __future__ import annotations

import sqlite_utils

from adapter.store.migrations import MIGRATIONS


@MIGRATIONS(name="0910_reconcile_indexes")
def _m0910_reconcile_indexes(db: sqlite_utils.Database) -> None:
    # Reconciliation asks per subscription / invoice and wants rows in id or created order. With only the
    # (provider, id) primary key and a (provider, parent) index, SQLite chose the primary key to avoid a
    # sort and scanned every row of the provider per question: quadratic in accounts. These cover the
    # whole WHERE and the ORDER BY (EXPLAIN QUERY PLAN checked in tests/reconcile/test_query_plans.py).
    db.executescript(
        """
        CREATE INDEX mirror_invoice_lines_invoice ON mirror_invoice_lines (provider, invoice, id);
        CREATE INDEX mirror_invoices_created ON mirror_invoices (provider, subscription, created, id);
        CREATE INDEX mirror_pending_charges_open ON mirror_pending_charges (provider, subscription, id);
        CREATE INDEX mirror_subscription_items_ordered ON mirror_subscription_items (provider, subscription, id);
        CREATE INDEX mirror_credit_notes_created ON mirror_credit_notes (provider, subscription, created, id);
        CREATE INDEX dead_letters_account ON dead_letters (account, id);
        """
    )


@MIGRATIONS(name="0920_reconcile_runs")
def _m0920_reconcile_runs(db: sqlite_utils.Database) -> None:
    # Reconciliation runs in the worker (or `seatsync reconcile --store`) and the pages read its result
    # (issue 11 item 2): one row per run (its window, counts, totals JSON: money_at_stake and receivables
    # per currency, by_kind; its errors) and one row per difference, written as accounts are done. A row
    # 'running' is the run's lease: one run at a time over all processes; a lease that runs out (the
    # process died) makes the row 'abandoned'. Only the last runs are kept (store/reconcile_runs.py).
    db.executescript(
        """
        CREATE TABLE reconcile_runs (
            id INTEGER PRIMARY KEY,
            trigger TEXT NOT NULL CHECK (trigger IN ('scheduled', 'cli')),
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'done', 'failed', 'abandoned')),
            owner TEXT NOT NULL,
            lease_expires_us INTEGER NOT NULL,
            started_us INTEGER NOT NULL,
            finished_us INTEGER,
            since_us INTEGER NOT NULL,
            until_us INTEGER NOT NULL,
            tolerance INTEGER NOT NULL,
            accounts INTEGER NOT NULL DEFAULT 0,
            invoices INTEGER NOT NULL DEFAULT 0,
            lines INTEGER NOT NULL DEFAULT 0,
            actual_lines INTEGER NOT NULL DEFAULT 0,
            differences INTEGER NOT NULL DEFAULT 0,
            totals TEXT,
            errors TEXT NOT NULL DEFAULT '[]',
            failure TEXT
        );
        CREATE INDEX reconcile_runs_status ON reconcile_runs (status, id);
        CREATE INDEX reconcile_runs_trigger ON reconcile_runs (trigger, started_us);

        CREATE TABLE reconcile_run_differences (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES reconcile_runs(id) ON DELETE CASCADE,
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            money_at_stake INTEGER NOT NULL,
            currency TEXT NOT NULL,
            invoice TEXT,
            line TEXT,
            price TEXT,
            period_start INTEGER,
            period_end INTEGER,
            expected_quantity INTEGER,
            actual_quantity INTEGER,
            expected_amount INTEGER,
            actual_amount INTEGER
        );
        CREATE INDEX reconcile_run_differences_run ON reconcile_run_differences (run_id, id);
        """
    )


@MIGRATIONS(name="0930_reconcile_run_lines")
def _m0930_reconcile_run_lines(db: sqlite_utils.Database) -> None:
    # A difference netted by root cause (adapter/reconcile/causes.py) names the lines it stands for; a stored
    # run keeps them (JSON), so the page reading the run shows what a live run shows.
    db.execute("ALTER TABLE reconcile_run_differences ADD COLUMN lines TEXT NOT NULL DEFAULT '[]'")


@MIGRATIONS(name="0940_ops_audit")
def _m0940_ops_audit(db: sqlite_utils.Database) -> None:
    # What ops did from the pages (issue 14 item 6): who (the session or the bearer token, and the address),
    # what, on which account, when, and how it ended. Never deleted: a billing system keeps its audit trail.
    db.executescript("""
        CREATE TABLE ops_audit (
            id INTEGER PRIMARY KEY,
            at_us INTEGER NOT NULL,
            actor TEXT NOT NULL,
            address TEXT,
            action TEXT NOT NULL CHECK (action IN ('repush', 'retry_dead_letter', 'resend_delivery', 'reconcile_now')),
            account TEXT,
            target TEXT,
            result TEXT NOT NULL CHECK (result IN ('done', 'refused', 'failed')),
            detail TEXT NOT NULL
        );
        CREATE INDEX ops_audit_account ON ops_audit (account, id);
    """)
