"""What ``/readyz`` asks the store: does the database take a write, and is a sync worker alive?"""

from __future__ import annotations

import os

import sqlite_utils

from adapter.store.connection import write_transaction

# A sync worker beats once per loop (every poll interval when idle, after each pass when busy); a
# heartbeat older than this means the worker is dead or stuck.
HEARTBEAT_STALE_SECONDS = 60


# A one-row probe fits in the WAL's slack long after a batch of events no longer does: readiness also
# wants this much free space on the database's file system.
MIN_FREE_BYTES = 1024 * 1024


def free_bytes(database: str) -> int:
    """Bytes free for an unprivileged writer on the file system holding ``database``."""
    stats = os.statvfs(os.path.dirname(os.path.abspath(database)) or ".")
    return stats.f_bavail * stats.f_frsize


def probe_write(db: sqlite_utils.Database, now_us: int) -> None:
    """One committed one-row write: raises the store's error when the database cannot take writes."""
    with write_transaction(db):
        db.execute("INSERT INTO readiness_probe (id, checked_us) VALUES (1, ?) "
                   "ON CONFLICT(id) DO UPDATE SET checked_us = excluded.checked_us", [now_us])


def beat(db: sqlite_utils.Database, owner: str, now_us: int) -> None:
    """A running sync worker's heartbeat (its loop beats every pass)."""
    with write_transaction(db):
        db.execute("INSERT INTO worker_heartbeats (owner, beat_us) VALUES (?, ?) "
                   "ON CONFLICT(owner) DO UPDATE SET beat_us = excluded.beat_us", [owner, now_us])


def forget_worker(db: sqlite_utils.Database, owner: str) -> None:
    """A worker that stops cleanly takes its heartbeat with it (a killed one leaves it to go stale)."""
    with write_transaction(db):
        db.execute("DELETE FROM worker_heartbeats WHERE owner = ?", [owner])


def freshest_heartbeat(db: sqlite_utils.Database) -> int | None:
    """The newest heartbeat of any worker, or None when no worker runs against this database."""
    newest: int | None = db.execute("SELECT MAX(beat_us) FROM worker_heartbeats").fetchone()[0]
    return newest
