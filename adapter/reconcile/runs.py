"""Stored reconciliation runs (issue 11 item 2): the worker runs reconcile on a schedule, or
``seatsync reconcile --store`` on demand, and stores the report; ``/ops/reconciliation`` and
``seatsync reconcile --last`` read it instead of running one.

A run streams: the differences found are written in batches as accounts are done (nothing per account is
held once it is written), each batch renews the run's lease (one run at a time across processes,
``store/reconcile_runs.py``), and the totals are summed in SQL over what was stored when the run ends, so
they are the totals of exactly the stored differences. Read back, a run is the same ``Report`` a live run
over the same window returns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlite_utils

from adapter import store
from adapter.billing.policy import Catalog
from adapter.clock import format_us
from adapter.reconcile.clocks import ProviderClock
from adapter.reconcile.differences import DEFAULT_TOLERANCE, RECEIVABLE_KINDS, Difference, LineRef, LiveReader, Report
from adapter.reconcile.report import reconcile

# A run's lease: renewed with every batch, and at least every third of it while accounts are checked.
LEASE_US = 120 * 1_000_000
FLUSH_ROWS = 500  # differences written per transaction



class RunStopped(Exception):
    """The process is stopping: the run ends at the account it was at (recorded as failed)."""


@dataclass(frozen=True)
class StoredRun:
    """A finished run: its row (window, counts, totals, trigger, instants) and its report read back."""

    row: store.Row
    report: Report

    def info(self, now_us: int) -> dict[str, Any]:
        """What a reader shows about the run itself: which, when, how old, over what."""
        row = self.row
        return {"id": row["id"], "trigger": row["trigger"], "started": format_us(row["started_us"]),
                "finished": format_us(row["finished_us"]),
                "age_seconds": max(0, (now_us - row["finished_us"]) // 1_000_000),
                "duration_seconds": (row["finished_us"] - row["started_us"]) / 1_000_000,
                "since": format_us(row["since_us"]), "until": format_us(row["until_us"]),
                "tolerance": row["tolerance"], "totals": row["totals"]}


def _row(difference: Difference) -> tuple[Any, ...]:
    return tuple(json.dumps([asdict(line) for line in difference.lines]) if column == "lines"
                 else getattr(difference, column) for column in store.DIFFERENCE_COLUMNS)


def _difference(row: store.Row) -> Difference:
    return Difference(**{**row, "lines": tuple(LineRef(**line) for line in json.loads(row["lines"]))})


def totals(db: sqlite_utils.Database, run_id: int) -> dict[str, Any]:
    """``by_kind``, ``money_at_stake`` and ``receivables`` (per currency) of a run's stored differences, by
    the rules of ``Report`` (receivables apart; a difference with no currency adds no money)."""
    by_kind: Counter[str] = Counter()
    money: dict[str, dict[str, int]] = {"money_at_stake": {}, "receivables": {}}
    for row in store.reconcile_run_sums(db, run_id):
        by_kind[row["kind"]] += row["count"]
        if row["currency"]:
            side = money["receivables" if row["kind"] in RECEIVABLE_KINDS else "money_at_stake"]
            side[row["currency"]] = side.get(row["currency"], 0) + row["money"]
    return {"by_kind": dict(sorted(by_kind.items())),
            **{name: dict(sorted(side.items())) for name, side in money.items()}}


def run_and_store(db: sqlite_utils.Database, catalog: Catalog, *, trigger: str, owner: str, since_us: int,
                  until_us: int | None, now_us: Callable[[], int], tolerance: int = DEFAULT_TOLERANCE,
                  live: LiveReader | None = None, interval_us: int | None = None, lease_us: int = LEASE_US,
                  flush_rows: int = FLUSH_ROWS, keep: int = store.KEEP_RUNS,
                  stopping: Callable[[], bool] | None = None, clock: ProviderClock | None = None) -> int | None:
    """Reconcile ``[since_us, until_us)`` over every account and store the run; its id, or None when it is
    not due (``interval_us``: the last run of ``trigger`` is younger) or another run holds the lease.

    ``until_us`` None: up to each account's now (``clock``: its provider's, ``report.reconcile``); the run
    is stored with the window it reached.

    A failure (a database error, a bad window) marks the run ``failed`` with why, and is raised; so does
    ``stopping()`` turning true between two accounts (``RunStopped``: the worker is shutting down)."""
    started = now_us()
    run_id = store.begin_reconcile_run(db, owner=owner, trigger=trigger, now_us=started, since_us=since_us,
                                       until_us=started if until_us is None else until_us, tolerance=tolerance,
                                       lease_us=lease_us, interval_us=interval_us)
    if run_id is None:
        return None
    buffer: list[tuple[Any, ...]] = []
    found = 0
    last_write = started

    def flush() -> None:
        nonlocal last_write
        last_write = now_us()
        store.add_reconcile_differences(db, run_id, owner, buffer, now_us=last_write, lease_us=lease_us)
        buffer.clear()

    def take(report: Report) -> None:
        nonlocal found
        if stopping is not None and stopping():
            raise RunStopped("the worker stopped during the run")
        found += len(report.differences)
        buffer.extend(_row(d) for d in report.differences)
        report.differences.clear()  # written out: the run holds nothing of an account once it is done
        if len(buffer) >= flush_rows or now_us() - last_write >= lease_us // 3:
            flush()

    try:
        report = reconcile(db, catalog, since_us=since_us, until_us=until_us, tolerance=tolerance,
                           now_us=started, live=live, on_account=take, clock=clock)
        flush()
        counts = {"accounts": report.accounts, "invoices": report.invoices, "lines": report.lines,
                  "actual_lines": report.actual_lines, "differences": found}
        store.finish_reconcile_run(db, run_id, owner, now_us=now_us(), until_us=report.until_us, counts=counts,
                                   totals=totals(db, run_id), errors=report.errors, keep=keep)
    except BaseException as exc:
        try:
            store.fail_reconcile_run(db, run_id, owner, now_us=now_us(), failure=f"{type(exc).__name__}: {exc}",
                                     keep=keep)
        except Exception:  # noqa: BLE001, S110 - the store itself failed; the lease runs out and says so
            pass
        raise
    return run_id


def run_scheduled(db: sqlite_utils.Database, catalog: Catalog, *, owner: str, now_us: Callable[[], int],
                  interval_us: int | None, stopping: Callable[[], bool] | None = None,
                  clock: ProviderClock | None = None) -> int | None:
    """The worker's run, when due (``interval_us`` None: now, as ops asked): the window ``seatsync reconcile``
    takes with none given (from the beginning up to now: each account's provider clock when ``clock`` tells
    one, else the worker's clock: in the embedded world, the demo's)."""
    return run_and_store(db, catalog, trigger="scheduled", owner=owner, since_us=0, until_us=None,
                         now_us=now_us, interval_us=interval_us, stopping=stopping, clock=clock)


def stored(db: sqlite_utils.Database, row: store.Row, *, kind: str | None = None,
           accounts: Sequence[str] | None = None) -> StoredRun:
    """A run's row and its report read back (only ``kind``'s, only ``accounts``', differences when given)."""
    differences = store.reconcile_run_differences(db, row["id"], kind=kind, accounts=accounts)
    report = Report(row["since_us"], row["until_us"], accounts=row["accounts"], invoices=row["invoices"],
                    lines=row["lines"], actual_lines=row["actual_lines"], errors=list(row["errors"]),
                    differences=[_difference(d) for d in differences])
    return StoredRun(row, report)


def last_run(db: sqlite_utils.Database, *, since_us: int | None = None, until_us: int | None = None,
             tolerance: int | None = None, kind: str | None = None,
             accounts: Sequence[str] | None = None) -> StoredRun | None:
    """The newest finished run (over exactly this window and tolerance when given), or None."""
    row = store.last_reconcile_run(db, since_us=since_us, until_us=until_us, tolerance=tolerance)
    return None if row is None else stored(db, row, kind=kind, accounts=accounts)


def in_progress(db: sqlite_utils.Database, now_us: int) -> str | None:
    """Which run holds the lease now, in words, or None."""
    row = store.running_reconcile_run(db, now_us)
    if row is None:
        return None
    return f"run {row['id']} ({row['trigger']}, {row['owner']}) started {format_us(row['started_us'])}"
