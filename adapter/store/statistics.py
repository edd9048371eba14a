"""Query-planner statistics kept current: ``PRAGMA optimize`` after migrations and on a schedule.

Without statistics SQLite guesses, and for reconciliation's per-subscription questions it guessed a scan of
a provider's whole mirror (issue 11). ``PRAGMA optimize`` runs ANALYZE only on tables whose statistics are
missing or stale, so it is cheap when nothing changed; ``analysis_limit`` bounds each table's work on a
large database (SQLite samples instead of reading every row).
"""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import write_transaction

# Rows SQLite samples per index when it analyses (https://sqlite.org/lang_analyze.html#approx).
ANALYSIS_LIMIT = 1000
OPTIMIZE_INTERVAL_US = 3600 * 1_000_000  # hourly, as SQLite's documentation suggests for long-lived processes
LAST_OPTIMIZE = "store:optimize:last"


def optimize(db: sqlite_utils.Database, *, full: bool = False) -> None:
    """Refresh the planner's statistics where they are missing or stale (``full``: every table, as after a
    migration that added indexes, which ``PRAGMA optimize`` alone may skip until the table has grown)."""
    db.conn.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    if full:
        db.conn.execute("ANALYZE")
    else:
        db.conn.execute("PRAGMA optimize")


def optimize_if_due(db: sqlite_utils.Database, now_us: int, *, interval_us: int = OPTIMIZE_INTERVAL_US) -> bool:
    """``optimize`` when the last one (any process's) is ``interval_us`` old; the worker calls this every tick."""
    from adapter.store.callbacks import get_watermark, set_watermark

    last = get_watermark(db, LAST_OPTIMIZE)
    if last is not None and now_us - int(last) < interval_us:
        return False
    optimize(db)
    with write_transaction(db):
        set_watermark(db, LAST_OPTIMIZE, str(now_us), now_us)
    return True
