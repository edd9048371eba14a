"""What ``/metrics`` reads from the database at scrape time: the backlog each loop has, and file sizes.

Read, not counted: whichever process synced, mirrored or delivered, the database is the one place that
knows how much is still waiting, so every replica's scrape says the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import sqlite_utils

from adapter.store.reconcile_runs import last_reconcile_run, reconcile_run_sums


@dataclass(frozen=True)
class Backlog:
    due_accounts: int = 0  # accounts whose ledger is ahead of their provider, or with planned calls
    outbox_lag_seconds: float = 0.0  # age of the oldest unsynced change (0 when nothing waits)
    open_dead_letters: int = 0  # dead letters not retried yet
    provider_events: dict[str, int] = field(default_factory=dict)  # status → count (pending, failed)
    provider_event_lag_seconds: float = 0.0  # age of the oldest pending provider event
    notifications: dict[str, int] = field(default_factory=dict)  # status → count (pending, failed)
    database_bytes: int = 0
    wal_bytes: int = 0
    # The newest finished reconcile run: its age, and per kind its differences and their money
    # (kind → count; (kind, currency) → minor units). None: no run stored yet.
    last_run_age_seconds: float | None = None
    last_run_differences: dict[str, int] = field(default_factory=dict)
    last_run_money: dict[tuple[str, str], int] = field(default_factory=dict)


def _age_seconds(now_us: int, oldest_us: int | None) -> float:
    return max(0, now_us - oldest_us) / 1_000_000 if oldest_us is not None else 0.0


def backlog(db: sqlite_utils.Database, database: str, now_us: int) -> Backlog:
    due, oldest = db.execute(
        """SELECT COUNT(*), MIN(dirty_since_us) FROM sync_state
           WHERE ledger_version > synced_version
              OR EXISTS (SELECT 1 FROM provider_calls c
                         WHERE c.account = sync_state.account AND c.status = 'planned')"""
    ).fetchone()
    dead = db.execute("SELECT COUNT(*) FROM dead_letters WHERE retried_us IS NULL").fetchone()[0]
    events = dict(db.execute("SELECT status, COUNT(*) FROM provider_events WHERE status IN ('pending', 'failed') "
                             "GROUP BY status").fetchall())
    oldest_event = db.execute("SELECT MIN(received_us) FROM provider_events WHERE status = 'pending'").fetchone()[0]
    notifications = dict(db.execute("SELECT status, COUNT(*) FROM deliveries WHERE status IN ('pending', 'failed') "
                                    "GROUP BY status").fetchall())
    run = last_reconcile_run(db)
    sums = reconcile_run_sums(db, run["id"]) if run is not None else []
    return Backlog(
        last_run_age_seconds=_age_seconds(now_us, run["finished_us"]) if run is not None else None,
        last_run_differences={row["kind"]: row["count"] for row in sums},
        last_run_money={(row["kind"], row["currency"]): row["money"] for row in sums if row["currency"]},
        due_accounts=due, outbox_lag_seconds=_age_seconds(now_us, oldest), open_dead_letters=dead,
        provider_events={status: events.get(status, 0) for status in ("pending", "failed")},
        provider_event_lag_seconds=_age_seconds(now_us, oldest_event),
        notifications={status: notifications.get(status, 0) for status in ("pending", "failed")},
        database_bytes=_size(database), wal_bytes=_size(f"{database}-wal"))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
