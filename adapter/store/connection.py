"""The store's connection: SQLite through sqlite-utils, in WAL mode with ``synchronous=FULL``, so that a
committed transaction survives a crash or power loss (seatsync answers 2xx only after commit, and that
promise is only as good as the fsync behind it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from adapter.store.migrations import MIGRATIONS

# One row as sqlite-utils returns it: column name → value (TEXT, INTEGER, REAL or NULL).
Row = dict[str, Any]
# How long a writer waits for another's lock before giving up with SQLITE_BUSY. Bounded so a lock held
# for long (a stuck process, a backup holding the database) is a prompt 503 + Retry-After for the caller,
# not a request parked for the lock's whole duration. Every write transaction here takes milliseconds.
BUSY_TIMEOUT_SECONDS = 5.0


def open_db(path: str | Path | None = None, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path``; ``None`` means in memory."""
    if path is None or str(path) == ":memory:":
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    else:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    db = sqlite_utils.Database(conn)
    if migrate and MIGRATIONS.pending(db):
        MIGRATIONS.apply(db)
        # New tables or indexes: give the planner statistics now, not when the first hourly optimize runs.
        from adapter.store.statistics import optimize

        optimize(db, full=True)
    return db


def schema_version(db: sqlite_utils.Database) -> list[str]:
    """Names of the applied migrations, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]




def insert_row(db: sqlite_utils.Database, table: str, row: Row) -> int:
    """Insert ``row`` into ``table`` and return its rowid (every table here has an integer key)."""
    pk = db.table(table).insert(row).last_pk
    if not isinstance(pk, int):
        raise TypeError(f"{table}: expected an integer rowid, got {pk!r}")
    return pk


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    With several processes on one WAL database (gunicorn workers, the sync
    worker), a deferred transaction that reads then writes can fail with
    SQLITE_BUSY instead of waiting; taking the lock first makes it wait for
    busy_timeout like every other writer.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
        # A COMMIT can fail too (disk full, I/O error): the transaction must not stay open on the
        # connection, or every later use of it fails ("cannot start a transaction within a transaction").
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            try:
                db.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection is broken; its owner reopens it (adapter/store/faults.py)
        raise


def ensure_usable(path: str | Path) -> None:
    """Start-up's check: the database opens, migrates and takes a write; else ``ConfigError`` naming
    ``SEATSYNC_DATABASE`` (one line for the operator, not a traceback)."""
    from adapter.clock import now_us
    from adapter.config import ConfigError
    from adapter.store.faults import fault_of
    from adapter.store.health import probe_write

    try:
        db = open_db(path)
        try:
            probe_write(db, now_us())
        finally:
            db.close()
    except (sqlite3.Error, OSError) as exc:
        fault = fault_of(exc)
        cause = f" ({fault.cause})" if fault is not None else ""
        raise ConfigError("SEATSYNC_DATABASE", f"{path} is not usable{cause}: {exc}") from None
