"""Stored reconciliation runs (issue 11 item 2): the worker's scheduled run and ``reconcile --store`` write
here, ``/ops/reconciliation`` and ``reconcile --last`` read. Instants are integer microseconds.

A run's row with status ``running`` is its lease: ``begin_reconcile_run`` takes it in one write transaction
(so two worker processes never both run), every batch of differences renews it, and a lease that ran out
(the process died) turns the row ``abandoned`` before the next run starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

from adapter.store.connection import Row, insert_row, write_transaction

__all__ = ["DIFFERENCE_COLUMNS", "KEEP_RUNS", "RUN_TRIGGERS", "add_reconcile_differences", "begin_reconcile_run",
           "fail_reconcile_run", "finish_reconcile_run", "last_reconcile_run", "reconcile_run",
           "reconcile_run_differences", "reconcile_run_sums", "running_reconcile_run"]

# Runs kept (each with its differences); older ones are deleted when a run finishes: a day of hourly runs.
KEEP_RUNS = 24
RUN_TRIGGERS = ("scheduled", "cli")
# One difference as stored: the fields of ``adapter.reconcile.differences.Difference``, in its order.
DIFFERENCE_COLUMNS = ("account", "kind", "detail", "money_at_stake", "currency", "invoice", "line", "price",
                      "period_start", "period_end", "expected_quantity", "actual_quantity", "expected_amount",
                      "actual_amount", "lines")  # lines: JSON, encoded and decoded by adapter/reconcile/runs.py


def _expire(db: sqlite_utils.Database, now_us: int) -> None:
    db.execute("UPDATE reconcile_runs SET status = 'abandoned', finished_us = ?, "
               "failure = 'its process stopped renewing the lease (killed?)' "
               "WHERE status = 'running' AND lease_expires_us <= ?", [now_us, now_us])


def running_reconcile_run(db: sqlite_utils.Database, now_us: int) -> Row | None:
    """The run holding the lease now, if any (a lease that ran out does not count)."""
    rows = list(db.query("SELECT * FROM reconcile_runs WHERE status = 'running' AND lease_expires_us > ? "
                         "ORDER BY id DESC LIMIT 1", [now_us]))
    return rows[0] if rows else None


def begin_reconcile_run(db: sqlite_utils.Database, *, owner: str, trigger: str, now_us: int, since_us: int,
                        until_us: int, tolerance: int, lease_us: int, interval_us: int | None = None) -> int | None:
    """Take the one run lease and record the run; its id, or None when another run holds the lease or, with
    ``interval_us``, when the last run of ``trigger`` started less than ``interval_us`` ago (not due)."""
    if trigger not in RUN_TRIGGERS:
        raise ValueError(f"trigger must be one of {RUN_TRIGGERS}, got {trigger!r}")
    with write_transaction(db):
        _expire(db, now_us)
        if running_reconcile_run(db, now_us) is not None:
            return None
        if interval_us is not None:
            last: int | None = db.execute("SELECT MAX(started_us) FROM reconcile_runs WHERE trigger = ?",
                                          [trigger]).fetchone()[0]
            if last is not None and now_us - last < interval_us:
                return None
        return insert_row(db, "reconcile_runs", {
            "trigger": trigger, "status": "running", "owner": owner, "lease_expires_us": now_us + lease_us,
            "started_us": now_us, "since_us": since_us, "until_us": until_us, "tolerance": tolerance})


def add_reconcile_differences(db: sqlite_utils.Database, run_id: int, owner: str,
                              differences: Iterable[Sequence[Any]], *, now_us: int, lease_us: int) -> None:
    """Append a batch of differences (tuples in ``DIFFERENCE_COLUMNS`` order) and renew the run's lease.

    Raises ``LookupError`` when the run is no longer this owner's running run (its lease ran out and it was
    marked abandoned): the caller stops instead of writing into a run another process gave up on."""
    marks = ", ".join("?" * len(DIFFERENCE_COLUMNS))
    with write_transaction(db):
        renewed = db.execute("UPDATE reconcile_runs SET lease_expires_us = ? WHERE id = ? AND owner = ? "
                             "AND status = 'running'", [now_us + lease_us, run_id, owner]).rowcount
        if renewed != 1:
            raise LookupError(f"reconcile run {run_id} is no longer running for {owner}")
        db.conn.executemany(f"INSERT INTO reconcile_run_differences (run_id, {', '.join(DIFFERENCE_COLUMNS)}) "
                            f"VALUES (?, {marks})", ((run_id, *row) for row in differences))


def reconcile_run_sums(db: sqlite_utils.Database, run_id: int) -> list[Row]:
    """Per kind and currency: how many differences a run stored and their money at stake (minor units)."""
    return list(db.query("SELECT kind, currency, COUNT(*) AS count, SUM(money_at_stake) AS money "
                         "FROM reconcile_run_differences WHERE run_id = ? GROUP BY kind, currency "
                         "ORDER BY kind, currency", [run_id]))


def finish_reconcile_run(db: sqlite_utils.Database, run_id: int, owner: str, *, now_us: int, until_us: int,
                         counts: dict[str, int], totals: dict[str, Any], errors: list[str],
                         keep: int = KEEP_RUNS) -> None:
    """Mark a run done with its counts (accounts, invoices, lines, actual_lines, differences) and totals, then
    delete every finished run but the newest ``keep`` (with their differences)."""
    with write_transaction(db):
        done = db.execute(
            "UPDATE reconcile_runs SET status = 'done', finished_us = ?, until_us = ?, accounts = ?, invoices = ?, "
            "lines = ?, actual_lines = ?, differences = ?, totals = ?, errors = ? "
            "WHERE id = ? AND owner = ? AND status = 'running'",
            [now_us, until_us, counts["accounts"], counts["invoices"], counts["lines"], counts["actual_lines"],
             counts["differences"], json.dumps(totals, sort_keys=True), json.dumps(errors), run_id, owner]).rowcount
        if done != 1:
            raise LookupError(f"reconcile run {run_id} is no longer running for {owner}")
        _prune(db, keep)


def fail_reconcile_run(db: sqlite_utils.Database, run_id: int, owner: str, *, now_us: int, failure: str,
                       keep: int = KEEP_RUNS) -> None:
    """A run that stopped on an error: kept as ``failed`` with why (its partial differences are dropped)."""
    with write_transaction(db):
        db.execute("UPDATE reconcile_runs SET status = 'failed', finished_us = ?, failure = ? "
                   "WHERE id = ? AND owner = ? AND status = 'running'", [now_us, failure[:2000], run_id, owner])
        db.execute("DELETE FROM reconcile_run_differences WHERE run_id = ?", [run_id])
        _prune(db, keep)


def _prune(db: sqlite_utils.Database, keep: int) -> None:
    old = "SELECT id FROM reconcile_runs WHERE status != 'running' ORDER BY id DESC LIMIT -1 OFFSET ?"
    db.execute(f"DELETE FROM reconcile_run_differences WHERE run_id IN ({old})", [keep])
    db.execute(f"DELETE FROM reconcile_runs WHERE id IN ({old})", [keep])


def _decoded(row: Row) -> Row:
    return {**row, "totals": json.loads(row["totals"]) if row["totals"] else None,
            "errors": json.loads(row["errors"] or "[]")}


def reconcile_run(db: sqlite_utils.Database, run_id: int) -> Row | None:
    """One run's row, ``totals`` and ``errors`` decoded from JSON."""
    rows = list(db.query("SELECT * FROM reconcile_runs WHERE id = ?", [run_id]))
    return _decoded(rows[0]) if rows else None


def last_reconcile_run(db: sqlite_utils.Database, *, since_us: int | None = None, until_us: int | None = None,
                       tolerance: int | None = None) -> Row | None:
    """The newest finished (``done``) run, optionally the newest over exactly this window and tolerance."""
    where, params = ["status = 'done'"], []
    for column, value in (("since_us", since_us), ("until_us", until_us), ("tolerance", tolerance)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = list(db.query(f"SELECT * FROM reconcile_runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT 1",
                         params))
    return _decoded(rows[0]) if rows else None


def reconcile_run_differences(db: sqlite_utils.Database, run_id: int, *, kind: str | None = None,
                              accounts: Sequence[str] | None = None) -> Iterator[Row]:
    """A run's differences in the order they were found (only ``kind``'s, only ``accounts``', when given),
    read lazily."""
    where: list[str] = ["run_id = ?"]
    params: list[Any] = [run_id]
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if accounts is not None:
        where.append(f"account IN ({', '.join('?' * len(accounts))})")
        params.extend(accounts)
    return db.query(f"SELECT {', '.join(DIFFERENCE_COLUMNS)} FROM reconcile_run_differences "
                    f"WHERE {' AND '.join(where)} ORDER BY id", params)
