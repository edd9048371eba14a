"""The store: the only module that holds SQL.

SQLite through sqlite-utils, in WAL mode with ``synchronous=FULL`` so that a
committed transaction survives a crash or power loss: seatsync answers 2xx only
after commit, and that promise is only as good as the fsync behind it.

The schema is built by versioned migrations (sqlite-utils' ``Migrations``);
each one runs in its own transaction and is recorded in ``_sqlite_migrations``.
Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("seatsync")


def open_db(path: str | Path | None = None, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path``; ``None`` means in memory."""
    if path is None or str(path) == ":memory:":
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    else:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    db = sqlite_utils.Database(conn)
    if migrate:
        MIGRATIONS.apply(db)
    return db


def schema_version(db: sqlite_utils.Database) -> list[str]:
    """Names of the applied migrations, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]


from contextlib import contextmanager  # noqa: E402


@contextmanager
def write_transaction(db: sqlite_utils.Database):
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
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


# ---------------------------------------------------------------------------
# Seat sync: per-account sync state and leases, planned/sent provider calls,
# the pushed quantity timeline, drifts, late changes and dead letters.
# Instants are integer microseconds since the Unix epoch, UTC (``*_us``).
# ---------------------------------------------------------------------------


@MIGRATIONS(name="0100_sync")
def _m0100_sync(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sync_state (
            account TEXT PRIMARY KEY,
            ledger_version INTEGER NOT NULL DEFAULT 0,
            synced_version INTEGER NOT NULL DEFAULT 0,
            dirty_since_us INTEGER,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_us INTEGER NOT NULL DEFAULT 0,
            last_set_quantity INTEGER
        );
        CREATE INDEX sync_state_due ON sync_state (dirty_since_us) WHERE dirty_since_us IS NOT NULL;

        CREATE TABLE provider_calls (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            provider TEXT NOT NULL,
            subscription TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            operation TEXT NOT NULL,
            target TEXT NOT NULL,
            params TEXT NOT NULL,
            effective_us INTEGER,
            quantity INTEGER,
            status TEXT NOT NULL DEFAULT 'planned'
                CHECK (status IN ('planned', 'succeeded', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            request_id TEXT,
            response TEXT,
            error TEXT,
            planned_us INTEGER NOT NULL,
            completed_us INTEGER
        );
        CREATE INDEX provider_calls_account ON provider_calls (account, status, id);

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES provider_calls(id),
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            code TEXT,
            status INTEGER,
            reason TEXT NOT NULL,
            request_id TEXT,
            created_us INTEGER NOT NULL,
            retried_us INTEGER
        );

        CREATE TABLE drifts (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            expected_quantity INTEGER,
            provider_quantity INTEGER NOT NULL,
            detected_us INTEGER NOT NULL
        );

        CREATE TABLE late_changes (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            period_start_us INTEGER NOT NULL,
            delta INTEGER NOT NULL,
            detected_us INTEGER NOT NULL
        );
        """
    )


def mark_accounts_dirty(db: sqlite_utils.Database, accounts, now_us: int) -> None:
    """Bump each account's ledger version; call inside the intake batch's transaction."""
    for account in accounts:
        db.execute(
            """
            INSERT INTO sync_state (account, ledger_version, dirty_since_us) VALUES (?, 1, ?)
            ON CONFLICT(account) DO UPDATE SET
                ledger_version = ledger_version + 1,
                dirty_since_us = COALESCE(dirty_since_us, excluded.dirty_since_us)
            """,
            [account, now_us],
        )


def claim_due_accounts(db: sqlite_utils.Database, owner: str, now_us: int, *, delay_us: int,
                       lease_us: int, limit: int = 10) -> list[dict]:
    """Lease up to ``limit`` accounts with work that is due; each returns its ledger version at claim."""
    with write_transaction(db):
        rows = db.execute(
            """
            SELECT account, ledger_version FROM sync_state
            WHERE (ledger_version > synced_version
                   OR EXISTS (SELECT 1 FROM provider_calls c WHERE c.account = sync_state.account AND c.status = 'planned'))
              AND COALESCE(dirty_since_us, 0) <= ?
              AND next_attempt_us <= ?
              AND (lease_owner IS NULL OR lease_expires_us <= ? OR lease_owner = ?)
            ORDER BY COALESCE(dirty_since_us, 0), account
            LIMIT ?
            """,
            [now_us - delay_us, now_us, now_us, owner, limit],
        ).fetchall()
        for account, _ in rows:
            db.execute(
                "UPDATE sync_state SET lease_owner = ?, lease_expires_us = ? WHERE account = ?",
                [owner, now_us + lease_us, account],
            )
    return [{"account": account, "ledger_version": version} for account, version in rows]


def holds_lease(db: sqlite_utils.Database, account: str, owner: str, now_us: int) -> bool:
    row = db.execute("SELECT lease_owner, lease_expires_us FROM sync_state WHERE account = ?", [account]).fetchone()
    return bool(row) and row[0] == owner and row[1] > now_us


def release_account(db: sqlite_utils.Database, account: str, owner: str, *, synced_version: int | None,
                    next_attempt_us: int = 0) -> None:
    """Give the lease back; ``synced_version`` marks the ledger version now reflected at the provider."""
    with write_transaction(db):
        if synced_version is not None:
            db.execute(
                """
                UPDATE sync_state SET synced_version = MAX(synced_version, ?),
                    dirty_since_us = CASE WHEN ledger_version <= ? THEN NULL ELSE dirty_since_us END
                WHERE account = ?
                """,
                [synced_version, synced_version, account],
            )
        db.execute(
            "UPDATE sync_state SET lease_owner = NULL, lease_expires_us = 0, next_attempt_us = ? "
            "WHERE account = ? AND lease_owner = ?",
            [next_attempt_us, account, owner],
        )


def sync_state(db: sqlite_utils.Database, account: str) -> dict | None:
    rows = list(db.query("SELECT * FROM sync_state WHERE account = ?", [account]))
    return rows[0] if rows else None


def set_last_set_quantity(db: sqlite_utils.Database, account: str, quantity: int) -> None:
    db.execute("UPDATE sync_state SET last_set_quantity = ? WHERE account = ?", [quantity, account])


def plan_calls(db: sqlite_utils.Database, calls: list[dict]) -> list[int]:
    """Record planned provider calls (before any is sent) and return their ids, in order."""
    ids = []
    with write_transaction(db):
        for call in calls:
            ids.append(db["provider_calls"].insert(call).last_pk)
    return ids


def planned_calls(db: sqlite_utils.Database, account: str) -> list[dict]:
    return list(db.query("SELECT * FROM provider_calls WHERE account = ? AND status = 'planned' ORDER BY id", [account]))


def record_call_attempt(db: sqlite_utils.Database, call_id: int) -> None:
    db.execute("UPDATE provider_calls SET attempts = attempts + 1 WHERE id = ?", [call_id])


def complete_call(db: sqlite_utils.Database, call_id: int, *, request_id: str | None, response: str,
                  completed_us: int) -> None:
    db.execute(
        "UPDATE provider_calls SET status = 'succeeded', request_id = ?, response = ?, completed_us = ? WHERE id = ?",
        [request_id, response, completed_us, call_id],
    )


def dead_letter_call(db: sqlite_utils.Database, call: dict, *, code: str | None, status: int | None, reason: str,
                     request_id: str | None, now_us: int) -> int:
    """Move a call that failed permanently, and every call planned after it, off the active path."""
    with write_transaction(db):
        db.execute(
            "UPDATE provider_calls SET status = 'dead', error = ?, completed_us = ? "
            "WHERE account = ? AND status = 'planned' AND id >= ?",
            [reason, now_us, call["account"], call["id"]],
        )
        return db["dead_letters"].insert({
            "call_id": call["id"], "account": call["account"], "subscription": call["subscription"],
            "code": code, "status": status, "reason": reason, "request_id": request_id, "created_us": now_us,
        }).last_pk


def dead_letters(db: sqlite_utils.Database, *, include_retried: bool = False) -> list[dict]:
    where = "" if include_retried else "WHERE d.retried_us IS NULL"
    return list(db.query(
        f"""
        SELECT d.*, c.kind, c.operation, c.quantity, c.idempotency_key, c.version
        FROM dead_letters d JOIN provider_calls c ON c.id = d.call_id {where} ORDER BY d.id
        """
    ))


def retry_dead_letter(db: sqlite_utils.Database, dead_letter_id: int, now_us: int) -> dict | None:
    """Mark a dead letter retried and make its account due: the worker recomputes from the ledger."""
    with write_transaction(db):
        rows = list(db.query("SELECT * FROM dead_letters WHERE id = ? AND retried_us IS NULL", [dead_letter_id]))
        if not rows:
            return None
        db.execute("UPDATE dead_letters SET retried_us = ? WHERE id = ?", [now_us, dead_letter_id])
        db.execute(
            "UPDATE sync_state SET synced_version = 0, dirty_since_us = COALESCE(dirty_since_us, ?), next_attempt_us = 0 "
            "WHERE account = ?",
            [now_us, rows[0]["account"]],
        )
        return rows[0]


def succeeded_quantity_calls(db: sqlite_utils.Database, account: str, subscription: str) -> list[dict]:
    """The pushed timeline: every quantity seatsync set on this subscription, in the order sent."""
    return list(db.query(
        "SELECT effective_us, quantity, completed_us FROM provider_calls WHERE account = ? AND subscription = ? "
        "AND status = 'succeeded' AND quantity IS NOT NULL ORDER BY id",
        [account, subscription],
    ))


def quantity_calls_since(db: sqlite_utils.Database, subscription: str, since_us: int) -> int:
    """Quantity updates sent to one subscription since ``since_us`` (Stripe allows 200 an hour)."""
    return db.execute(
        "SELECT COUNT(*) FROM provider_calls WHERE subscription = ? AND quantity IS NOT NULL "
        "AND status = 'succeeded' AND completed_us >= ?",
        [subscription, since_us],
    ).fetchone()[0]


def record_drift(db: sqlite_utils.Database, account: str, subscription: str, *, expected: int | None,
                 actual: int, now_us: int) -> int:
    return db["drifts"].insert({
        "account": account, "subscription": subscription, "expected_quantity": expected,
        "provider_quantity": actual, "detected_us": now_us,
    }).last_pk


def record_late_change(db: sqlite_utils.Database, account: str, subscription: str, *, period_start_us: int,
                       delta: int, now_us: int) -> int:
    return db["late_changes"].insert({
        "account": account, "subscription": subscription, "period_start_us": period_start_us,
        "delta": delta, "detected_us": now_us,
    }).last_pk
