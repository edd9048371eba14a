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
            last_set_quantity INTEGER,
            baseline_quantity INTEGER,
            baseline_us INTEGER
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
            call_id INTEGER REFERENCES provider_calls(id),
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            operation TEXT NOT NULL,
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
            detected_us INTEGER NOT NULL,
            recorded_us INTEGER NOT NULL
        );

        CREATE TABLE late_changes (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('across_period', 'applied_now')),
            instant_us INTEGER NOT NULL,
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
            INSERT INTO sync_state (account, ledger_version, dirty_since_us, last_dirty_us) VALUES (?, 1, ?, ?)
            ON CONFLICT(account) DO UPDATE SET
                ledger_version = ledger_version + 1,
                dirty_since_us = COALESCE(dirty_since_us, excluded.dirty_since_us),
                last_dirty_us = excluded.last_dirty_us
            """,
            [account, now_us, now_us],
        )


def claim_due_accounts(db: sqlite_utils.Database, owner: str, now_us: int, *, delay_us: int,
                       lease_us: int, limit: int = 10, max_wait_us: int | None = None,
                       exclude_owner: bool = False) -> list[dict]:
    """Lease up to ``limit`` accounts with work that is due; each returns its ledger version at claim.

    Due means: quiet for ``delay_us`` since its last change (a burst is planned once, when it stops), or
    changed ``max_wait_us`` ago whatever follows (a stream that never stops is still synced; default:
    the delay, i.e. the oldest unsynced change is older than the delay). ``exclude_owner``: accounts
    this owner holds a lease on are someone else's (another thread of the same worker) until released.
    """
    max_wait_us = delay_us if max_wait_us is None else max_wait_us
    with write_transaction(db):
        rows = db.execute(
            """
            SELECT account, ledger_version FROM sync_state
            WHERE (ledger_version > synced_version
                   OR EXISTS (SELECT 1 FROM provider_calls c WHERE c.account = sync_state.account AND c.status = 'planned'))
              AND (COALESCE(last_dirty_us, dirty_since_us, 0) <= ? OR COALESCE(dirty_since_us, 0) <= ?)
              AND next_attempt_us <= ?
              AND (lease_owner IS NULL OR lease_expires_us <= ? OR lease_owner = ?)
            ORDER BY COALESCE(dirty_since_us, 0), account
            LIMIT ?
            """,
            [now_us - delay_us, now_us - max_wait_us, now_us, now_us, None if exclude_owner else owner, limit],
        ).fetchall()
        for account, _ in rows:
            db.execute(
                "UPDATE sync_state SET lease_owner = ?, lease_expires_us = ? WHERE account = ?",
                [owner, now_us + lease_us, account],
            )
    return [{"account": account, "ledger_version": version} for account, version in rows]


def renew_leases(db: sqlite_utils.Database, owner: str, accounts: list[str], now_us: int, *, lease_us: int) -> None:
    """Extend this owner's leases on ``accounts`` (the worker's heartbeat); a lease already lost stays lost."""
    with write_transaction(db):
        db.conn.executemany("UPDATE sync_state SET lease_expires_us = ? WHERE account = ? AND lease_owner = ? "
                            "AND lease_expires_us > ?", [(now_us + lease_us, a, owner, now_us) for a in accounts])


def holds_lease(db: sqlite_utils.Database, account: str, owner: str, now_us: int) -> bool:
    row = db.execute("SELECT lease_owner, lease_expires_us FROM sync_state WHERE account = ?", [account]).fetchone()
    return bool(row) and row[0] == owner and row[1] > now_us


def release_account(db: sqlite_utils.Database, account: str, owner: str, *, synced_version: int | None,
                    next_attempt_us: int = 0, claimed_us: int | None = None) -> None:
    """Give the lease back; ``synced_version`` marks the ledger version now reflected at the provider.

    Changes that arrived during the pass stay due; they are no older than the claim (``claimed_us``),
    so that is where their wait starts.
    """
    with write_transaction(db):
        if synced_version is not None:
            db.execute(
                """
                UPDATE sync_state SET synced_version = MAX(synced_version, ?),
                    dirty_since_us = CASE WHEN ledger_version <= ? THEN NULL
                                          ELSE MAX(COALESCE(dirty_since_us, 0), COALESCE(?, 0)) END
                WHERE account = ?
                """,
                [synced_version, synced_version, claimed_us, account],
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


def set_baseline(db: sqlite_utils.Database, account: str, quantity: int, at_us: int) -> None:
    """The provider's quantity when seatsync first looked: in force until seatsync's first call."""
    db.execute(
        "UPDATE sync_state SET baseline_quantity = ?, baseline_us = ?, last_set_quantity = ? "
        "WHERE account = ? AND baseline_quantity IS NULL",
        [quantity, at_us, quantity, account],
    )


def drifts_for(db: sqlite_utils.Database, account: str, subscription: str) -> list[dict]:
    return list(db.query("SELECT * FROM drifts WHERE account = ? AND subscription = ? ORDER BY id", [account, subscription]))


def calls_planned_count(db: sqlite_utils.Database, subscription: str) -> int:
    return db.execute("SELECT COUNT(*) FROM provider_calls WHERE subscription = ?", [subscription]).fetchone()[0]


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
        # The batch no longer stands for what it planned: the next plan starts from the one before.
        db.execute("UPDATE sync_batches SET status = 'dead' WHERE id IN "
                   "(SELECT batch_id FROM provider_calls WHERE account = ? AND status = 'dead' AND id >= ?)",
                   [call["account"], call["id"]])
        return db["dead_letters"].insert({
            "call_id": call["id"], "account": call["account"], "subscription": call["subscription"],
            "operation": call["operation"], "code": code, "status": status, "reason": reason,
            "request_id": request_id, "created_us": now_us,
        }).last_pk


def dead_letter_read(db: sqlite_utils.Database, account: str, subscription: str, *, operation: str,
                     code: str | None, status: int | None, reason: str, request_id: str | None, now_us: int) -> int:
    """A permanent failure before any call was planned (say the subscription is unknown)."""
    with write_transaction(db):
        return db["dead_letters"].insert({
            "call_id": None, "account": account, "subscription": subscription, "operation": operation,
            "code": code, "status": status, "reason": reason, "request_id": request_id, "created_us": now_us,
        }).last_pk


def dead_letters(db: sqlite_utils.Database, *, include_retried: bool = False) -> list[dict]:
    where = "" if include_retried else "WHERE d.retried_us IS NULL"
    return list(db.query(
        f"""
        SELECT d.*, c.kind, c.quantity, c.idempotency_key, c.version
        FROM dead_letters d LEFT JOIN provider_calls c ON c.id = d.call_id {where} ORDER BY d.id
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
                 actual: int, now_us: int, recorded_us: int | None = None) -> int:
    """``now_us`` is the provider's clock (the instant the drift is billed from); ``recorded_us`` ours."""
    return db["drifts"].insert({
        "account": account, "subscription": subscription, "expected_quantity": expected,
        "provider_quantity": actual, "detected_us": now_us,
        "recorded_us": now_us if recorded_us is None else recorded_us,
    }).last_pk


def record_late_change(db: sqlite_utils.Database, account: str, subscription: str, *, kind: str, instant_us: int,
                       delta: int, now_us: int, moved: int | None = None, unit: str | None = None,
                       period_units: int | None = None, amount: int | None = None,
                       period_start_us: int | None = None) -> int:
    """``across_period``: the change belongs to a period already billed, pushed at the current period's start.
    ``applied_now``: the provider cannot date a change back (Chargebee without backdating), so it applied
    from its own now. ``shifted``: no plan within the ledger's range could date it exactly.

    ``moved`` is the seat-time billed from another instant (in ``unit``; the period has ``period_units``)
    and ``amount`` its money times ``period_units``: the money is ``amount / period_units`` minor units,
    exactly. ``applied_now`` rows add up per subscription and period (one row, however many passes)."""
    if kind == "applied_now" and period_start_us is not None:
        row = db.execute("SELECT id FROM late_changes WHERE subscription = ? AND kind = 'applied_now' "
                         "AND period_start_us = ? AND unit = ? AND period_units = ?",
                         [subscription, period_start_us, unit, period_units]).fetchone()
        if row:
            db.execute("UPDATE late_changes SET moved = COALESCE(moved, 0) + ?, amount = amount + ?, "
                       "delta = delta + ?, detected_us = ? WHERE id = ?",
                       [moved or 0, amount or 0, delta, now_us, row[0]])
            return row[0]
    return db["late_changes"].insert({
        "account": account, "subscription": subscription, "kind": kind, "instant_us": instant_us,
        "delta": delta, "detected_us": now_us, "moved": moved, "unit": unit, "period_units": period_units,
        "amount": amount, "period_start_us": period_start_us,
    }).last_pk


# ---------------------------------------------------------------------------
# Product events and the seat ledger (issue 2). Every accepted event is kept
# raw in ``product_events``; the other tables are its facts, indexed for the
# ledger's questions (see adapter/ledger.py for the ordering rules).
# ---------------------------------------------------------------------------


@MIGRATIONS(name="0200_product_events_ledger_accounts")
def _m0200_ledger(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE product_events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            received_us INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX product_events_account ON product_events (account, occurred_us);

        CREATE TABLE seat_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            user TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            active INTEGER NOT NULL CHECK (active IN (0, 1))
        );
        CREATE INDEX seat_facts_account ON seat_facts (account, occurred_us);

        CREATE TABLE snapshots (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL
        );
        CREATE INDEX snapshots_account ON snapshots (account, occurred_us);

        CREATE TABLE snapshot_users (
            event_id TEXT NOT NULL REFERENCES snapshots(event_id),
            user TEXT NOT NULL,
            PRIMARY KEY (event_id, user)
        );

        CREATE TABLE plan_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            plan TEXT NOT NULL
        );
        CREATE INDEX plan_facts_account ON plan_facts (account, occurred_us);

        CREATE TABLE addon_facts (
            event_id TEXT PRIMARY KEY REFERENCES product_events(id),
            account TEXT NOT NULL,
            occurred_us INTEGER NOT NULL,
            addons TEXT NOT NULL
        );
        CREATE INDEX addon_facts_account ON addon_facts (account, occurred_us);

        CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            provider TEXT NOT NULL CHECK (provider IN ('stripe', 'chargebee')),
            subscription TEXT NOT NULL,
            plan TEXT NOT NULL,
            timezone TEXT,  -- NULL: the plan's timezone from mappings/ applies
            linked_us INTEGER NOT NULL,
            event_id TEXT NOT NULL REFERENCES product_events(id)
        );
        CREATE INDEX accounts_subscription ON accounts (provider, subscription);
        """
    )


def stored_event_bodies(db: sqlite_utils.Database, ids: list[str]) -> dict[str, str]:
    """``{id: canonical body}`` for those of ``ids`` already stored."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, body FROM product_events WHERE id IN ({marks})", chunk).fetchall())
    return found


def insert_product_events(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Rows of (id, type, account, occurred_us, received_us, body); call inside a write transaction."""
    db.conn.executemany(
        "INSERT INTO product_events (id, type, account, occurred_us, received_us, body) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def insert_seat_facts(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Rows of (event_id, account, user, occurred_us, active)."""
    db.conn.executemany(
        "INSERT INTO seat_facts (event_id, account, user, occurred_us, active) VALUES (?, ?, ?, ?, ?)", rows
    )


def insert_snapshot(db: sqlite_utils.Database, event_id: str, account: str, occurred_us: int,
                    users: list[str]) -> None:
    db.execute("INSERT INTO snapshots (event_id, account, occurred_us) VALUES (?, ?, ?)",
               [event_id, account, occurred_us])
    db.conn.executemany("INSERT INTO snapshot_users (event_id, user) VALUES (?, ?)",
                        [(event_id, user) for user in users])


def insert_plan_facts(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Rows of (event_id, account, occurred_us, plan)."""
    db.conn.executemany("INSERT INTO plan_facts (event_id, account, occurred_us, plan) VALUES (?, ?, ?, ?)", rows)


def insert_addon_facts(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Rows of (event_id, account, occurred_us, addons as a JSON array)."""
    db.conn.executemany("INSERT INTO addon_facts (event_id, account, occurred_us, addons) VALUES (?, ?, ?, ?)",
                        rows)


def upsert_account_link(db: sqlite_utils.Database, row: dict) -> None:
    """Keep the link from the latest ``account.linked`` by (instant, event id), whatever the arrival order."""
    db.execute(
        """
        INSERT INTO accounts (account, provider, subscription, plan, timezone, linked_us, event_id)
        VALUES (:account, :provider, :subscription, :plan, :timezone, :linked_us, :event_id)
        ON CONFLICT(account) DO UPDATE SET
            provider = excluded.provider, subscription = excluded.subscription, plan = excluded.plan,
            timezone = excluded.timezone, linked_us = excluded.linked_us, event_id = excluded.event_id
        WHERE (excluded.linked_us, excluded.event_id) > (accounts.linked_us, accounts.event_id)
        """,
        row,
    )


def account_link(db: sqlite_utils.Database, account: str) -> dict | None:
    rows = list(db.query("SELECT * FROM accounts WHERE account = ?", [account]))
    return rows[0] if rows else None


def linked_accounts(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM accounts ORDER BY account"))


def latest_snapshot(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, int] | None:
    """(event id, instant) of the snapshot in force at ``at_us``; same-instant snapshots: highest id wins."""
    return db.execute(
        "SELECT event_id, occurred_us FROM snapshots WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()


def snapshot_user_list(db: sqlite_utils.Database, event_id: str) -> list[str]:
    return [row[0] for row in db.execute("SELECT user FROM snapshot_users WHERE event_id = ?", [event_id])]


def latest_seat_fact_per_user(db: sqlite_utils.Database, account: str, from_us: int | None,
                              at_us: int) -> list[tuple[str, int, str]]:
    """(user, active, event id) of each user's deciding seat event in [from_us, at_us].

    At one instant a deactivation beats an activation: the key ``occurred_us * 2 + 1 - active`` is
    highest for the deciding row, and SQLite returns the bare columns of the row holding the MAX
    (a single-pass GROUP BY, twice as fast as a window function here). Among rows with the same key
    (same user, instant and action) which event id is returned is unspecified: they decide alike.
    """
    return [row[:3] for row in db.execute(
        """
        SELECT user, active, event_id, MAX(occurred_us * 2 + 1 - active) FROM seat_facts
        WHERE account = ? AND occurred_us >= ? AND occurred_us <= ?
        GROUP BY user
        """,
        [account, from_us if from_us is not None else -(2**62), at_us],
    )]


def seat_facts_between(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[tuple]:
    """(occurred_us, user, active, event id) in [start_us, end_us), in instant order."""
    return db.execute(
        "SELECT occurred_us, user, active, event_id FROM seat_facts "
        "WHERE account = ? AND occurred_us >= ? AND occurred_us < ? ORDER BY occurred_us, user, active DESC, event_id",
        [account, start_us, end_us],
    ).fetchall()


def snapshots_between(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[tuple]:
    """(occurred_us, event id) in [start_us, end_us), in (instant, event id) order."""
    return db.execute(
        "SELECT occurred_us, event_id FROM snapshots WHERE account = ? AND occurred_us >= ? AND occurred_us < ? "
        "ORDER BY occurred_us, event_id",
        [account, start_us, end_us],
    ).fetchall()


def known_users(db: sqlite_utils.Database, account: str) -> list[str]:
    """Every user any seat event or snapshot of ``account`` has named."""
    return [row[0] for row in db.execute(
        "SELECT user FROM seat_facts WHERE account = ? UNION "
        "SELECT u.user FROM snapshot_users u JOIN snapshots s ON s.event_id = u.event_id WHERE s.account = ? "
        "ORDER BY 1",
        [account, account],
    )]


def plan_fact_at(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, int, str] | None:
    """(plan, instant, event id) in force at ``at_us``: latest instant, then highest event id."""
    return db.execute(
        "SELECT plan, occurred_us, event_id FROM plan_facts WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()


def plan_facts_between(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[tuple]:
    """(occurred_us, plan, event id) in [start_us, end_us), in (instant, event id) order."""
    return db.execute(
        "SELECT occurred_us, plan, event_id FROM plan_facts WHERE account = ? AND occurred_us >= ? "
        "AND occurred_us < ? ORDER BY occurred_us, event_id",
        [account, start_us, end_us],
    ).fetchall()


def addon_fact_at(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, int, str] | None:
    """(addons JSON, instant, event id) in force at ``at_us``."""
    return db.execute(
        "SELECT addons, occurred_us, event_id FROM addon_facts WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()


def addon_facts_between(db: sqlite_utils.Database, account: str, start_us: int, end_us: int) -> list[tuple]:
    return db.execute(
        "SELECT occurred_us, addons, event_id FROM addon_facts WHERE account = ? AND occurred_us >= ? "
        "AND occurred_us < ? ORDER BY occurred_us, event_id",
        [account, start_us, end_us],
    ).fetchall()


def count_product_rows(db: sqlite_utils.Database) -> dict[str, int]:
    """Row counts of every intake table (tests use it to prove a rejection stored nothing)."""
    tables = ("product_events", "seat_facts", "snapshots", "snapshot_users", "plan_facts", "addon_facts", "accounts")
    return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}


# ---------------------------------------------------------------------------
# Provider callbacks (issue 6): raw provider events, the normalized mirror of
# what the provider billed, outbound product notifications and their delivery
# log, and watermarks (sweeper, backfill cursors). Provider timestamps are the
# provider's own units (Stripe/Chargebee seconds; Chargebee ``resource_version``
# milliseconds); seatsync's own instants are microseconds (``*_us``).
# ---------------------------------------------------------------------------

# Every mirror table: (provider, id) is the key, ``raw`` the provider's JSON as
# last applied, ``version`` the ordering guard (see adapter/mirror.py).
MIRROR_COLUMNS: dict[str, tuple[str, ...]] = {
    "mirror_customers": ("provider", "id", "email", "name", "deleted", "version", "raw"),
    "mirror_subscriptions": ("provider", "id", "customer", "account", "status", "currency",
                             "current_period_start", "current_period_end", "past_due_since", "deleted",
                             "version", "raw"),
    "mirror_subscription_items": ("provider", "id", "subscription", "price", "quantity", "unit_amount_decimal",
                                  "current_period_start", "current_period_end", "raw"),
    "mirror_invoices": ("provider", "id", "customer", "subscription", "status", "currency", "subtotal", "total",
                        "amount_due", "amount_paid", "period_start", "period_end", "created", "billing_reason",
                        "deleted", "version", "raw"),
    "mirror_invoice_lines": ("provider", "id", "invoice", "subscription", "subscription_item", "price",
                             "description", "period_start", "period_end", "quantity", "unit_amount_decimal",
                             "amount", "proration", "pending_charge", "raw"),
    "mirror_credit_notes": ("provider", "id", "customer", "subscription", "invoice", "type", "status", "reason",
                            "currency", "total", "created", "deleted", "version", "raw"),
    "mirror_payments": ("provider", "id", "kind", "customer", "subscription", "invoice", "status", "amount",
                        "currency", "created", "deleted", "version", "raw"),
    "mirror_pending_charges": ("provider", "id", "customer", "subscription", "subscription_item", "price",
                               "description", "period_start", "period_end", "quantity", "unit_amount_decimal",
                               "amount", "proration", "invoice", "voided", "deleted", "version", "raw"),
}
MIRROR_CHILDREN = {"mirror_subscription_items": "subscription", "mirror_invoice_lines": "invoice"}


@MIGRATIONS(name="0600_provider_callbacks")
def _m0600_provider_callbacks(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE provider_events (
            id INTEGER PRIMARY KEY,
            provider TEXT NOT NULL CHECK (provider IN ('stripe', 'chargebee')),
            event_id TEXT NOT NULL,
            type TEXT NOT NULL,
            object_type TEXT,
            object_id TEXT,
            dedupe_key TEXT,
            created INTEGER,
            body TEXT NOT NULL,
            source TEXT NOT NULL,
            received_us INTEGER NOT NULL,
            seen_count INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            claim_owner TEXT,
            claim_expires_us INTEGER NOT NULL DEFAULT 0,
            processed_us INTEGER,
            outcome TEXT,
            error TEXT,
            UNIQUE (provider, event_id),
            UNIQUE (provider, dedupe_key)
        );
        CREATE INDEX provider_events_pending ON provider_events (status, next_attempt_us, created, id);
        CREATE INDEX provider_events_object ON provider_events (provider, object_id);

        CREATE TABLE mirror_customers (
            provider TEXT NOT NULL, id TEXT NOT NULL, email TEXT, name TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_subscriptions (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, account TEXT, status TEXT, currency TEXT,
            current_period_start INTEGER, current_period_end INTEGER, past_due_since TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_subscriptions_account ON mirror_subscriptions (account);
        CREATE TABLE mirror_subscription_items (
            provider TEXT NOT NULL, id TEXT NOT NULL, subscription TEXT NOT NULL, price TEXT, quantity INTEGER,
            unit_amount_decimal TEXT, current_period_start INTEGER, current_period_end INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_subscription_items_parent ON mirror_subscription_items (provider, subscription);
        CREATE TABLE mirror_invoices (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, status TEXT, currency TEXT,
            subtotal INTEGER, total INTEGER, amount_due INTEGER, amount_paid INTEGER,
            period_start INTEGER, period_end INTEGER, created INTEGER, billing_reason TEXT,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_invoices_subscription ON mirror_invoices (provider, subscription);
        CREATE TABLE mirror_invoice_lines (
            provider TEXT NOT NULL, id TEXT NOT NULL, invoice TEXT NOT NULL, subscription TEXT,
            subscription_item TEXT, price TEXT, description TEXT, period_start INTEGER, period_end INTEGER,
            quantity INTEGER, unit_amount_decimal TEXT, amount INTEGER NOT NULL, proration INTEGER,
            pending_charge TEXT, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_invoice_lines_parent ON mirror_invoice_lines (provider, invoice);
        CREATE TABLE mirror_credit_notes (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, invoice TEXT, type TEXT,
            status TEXT, reason TEXT, currency TEXT, total INTEGER, created INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_payments (
            provider TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, customer TEXT, subscription TEXT,
            invoice TEXT, status TEXT, amount INTEGER, currency TEXT, created INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0, version INTEGER, raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE TABLE mirror_pending_charges (
            provider TEXT NOT NULL, id TEXT NOT NULL, customer TEXT, subscription TEXT, subscription_item TEXT,
            price TEXT, description TEXT, period_start INTEGER, period_end INTEGER, quantity INTEGER,
            unit_amount_decimal TEXT, amount INTEGER, proration INTEGER, invoice TEXT,
            voided INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, version INTEGER,
            raw TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        );
        CREATE INDEX mirror_pending_charges_subscription ON mirror_pending_charges (provider, subscription);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            msg_id TEXT NOT NULL UNIQUE,
            dedupe_key TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            account TEXT,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_us INTEGER NOT NULL DEFAULT 0,
            claim_owner TEXT,
            claim_expires_us INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            created_us INTEGER NOT NULL,
            delivered_us INTEGER
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_attempt_us);
        CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            attempted_us INTEGER NOT NULL,
            status INTEGER,
            error TEXT
        );
        CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

        CREATE TABLE watermarks (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_us INTEGER NOT NULL
        );
        """
    )


def insert_provider_event(db: sqlite_utils.Database, row: dict) -> bool:
    """Store a raw provider event once; ``False`` (and a bumped ``seen_count``) for a duplicate.

    A duplicate is the same event id, or, for Stripe, the same dedupe key (two
    Event objects for one change, see adapter/provider_events.py).
    """
    with write_transaction(db):
        cursor = db.execute(
            """
            INSERT INTO provider_events (provider, event_id, type, object_type, object_id, dedupe_key, created,
                                         body, source, received_us)
            VALUES (:provider, :event_id, :type, :object_type, :object_id, :dedupe_key, :created,
                    :body, :source, :received_us)
            ON CONFLICT DO NOTHING
            """,
            row,
        )
        if cursor.rowcount == 1:
            return True
        db.execute(
            "UPDATE provider_events SET seen_count = seen_count + 1 "
            "WHERE provider = :provider AND (event_id = :event_id OR dedupe_key = :dedupe_key)",
            row,
        )
        return False


def claim_provider_events(db: sqlite_utils.Database, owner: str, now_us: int, *, lease_us: int,
                          limit: int) -> list[dict]:
    """Lease due pending events, oldest first, at most one per provider object across all workers.

    Holding every event of one object in one worker keeps the Stripe
    re-fetch-then-apply step from racing another worker's apply.
    """
    with write_transaction(db):
        rows = list(db.query(
            """
            SELECT * FROM provider_events p
            WHERE status = 'pending' AND next_attempt_us <= :now
              AND (claim_owner IS NULL OR claim_expires_us <= :now)
              AND (object_id IS NULL OR NOT EXISTS (
                    SELECT 1 FROM provider_events q
                    WHERE q.provider = p.provider AND q.object_id = p.object_id AND q.id != p.id
                      AND q.status = 'pending' AND q.claim_owner IS NOT NULL AND q.claim_owner != :owner
                      AND q.claim_expires_us > :now))
            ORDER BY created, id
            LIMIT :limit
            """,
            {"now": now_us, "owner": owner, "limit": limit},
        ))
        for row in rows:
            db.execute("UPDATE provider_events SET claim_owner = ?, claim_expires_us = ? WHERE id = ?",
                       [owner, now_us + lease_us, row["id"]])
    return rows


def still_claimed(db: sqlite_utils.Database, event_row_id: int, owner: str, now_us: int) -> bool:
    row = db.execute("SELECT status, claim_owner, claim_expires_us FROM provider_events WHERE id = ?",
                     [event_row_id]).fetchone()
    return bool(row) and row[0] == "pending" and row[1] == owner and row[2] > now_us


def finish_provider_event(db: sqlite_utils.Database, event_row_id: int, *, now_us: int, outcome: str) -> None:
    """Mark processed; call inside the transaction that applied the event."""
    db.execute(
        "UPDATE provider_events SET status = 'processed', processed_us = ?, outcome = ?, error = NULL, "
        "claim_owner = NULL, claim_expires_us = 0, attempts = attempts + 1 WHERE id = ?",
        [now_us, outcome, event_row_id],
    )


def postpone_provider_event(db: sqlite_utils.Database, event_row_id: int, *, error: str, next_attempt_us: int,
                            give_up: bool) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE provider_events SET attempts = attempts + 1, error = ?, next_attempt_us = ?, "
            "status = CASE WHEN ? THEN 'failed' ELSE status END, claim_owner = NULL, claim_expires_us = 0 "
            "WHERE id = ?",
            [error, next_attempt_us, 1 if give_up else 0, event_row_id],
        )


def provider_event_rows(db: sqlite_utils.Database, provider: str | None = None,
                        status: str | None = None) -> list[dict]:
    clauses, params = [], []
    if provider is not None:
        clauses.append("provider = ?")
        params.append(provider)
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return list(db.query(f"SELECT * FROM provider_events {where} ORDER BY id", params))


def known_provider_event_ids(db: sqlite_utils.Database, provider: str, event_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in db.execute(
            f"SELECT event_id FROM provider_events WHERE provider = ? AND event_id IN ({marks})", [provider, *chunk]))
    return found


def _mirror_table(table: str) -> tuple[str, ...]:
    if table not in MIRROR_COLUMNS:
        raise ValueError(f"not a mirror table: {table}")
    return MIRROR_COLUMNS[table]


def mirror_row(db: sqlite_utils.Database, table: str, provider: str, object_id: str) -> dict | None:
    _mirror_table(table)
    rows = list(db.query(f"SELECT * FROM {table} WHERE provider = ? AND id = ?", [provider, object_id]))
    return rows[0] if rows else None


MONOTONIC_FLAGS = ("deleted", "voided")


def upsert_mirror_row(db: sqlite_utils.Database, table: str, row: dict) -> None:
    """Insert or replace one mirror row (every column; missing ones become NULL/default)."""
    columns = _mirror_table(table)
    unknown = set(row) - set(columns)
    if unknown:
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    present = [c for c in columns if c in row]
    # Deleted and voided never revert at either provider: a snapshot without the flag (a refetch, a
    # backfill page, a late event) must not bring a deleted object back.
    updates = ", ".join(f"{c} = MAX({c}, excluded.{c})" if c in MONOTONIC_FLAGS else f"{c} = excluded.{c}"
                        for c in present if c not in ("provider", "id"))
    db.execute(
        f"INSERT INTO {table} ({', '.join(present)}) VALUES ({', '.join(':' + c for c in present)}) "
        f"ON CONFLICT(provider, id) DO UPDATE SET {updates}",
        row,
    )


def replace_mirror_children(db: sqlite_utils.Database, table: str, provider: str, parent_id: str,
                            rows: list[dict]) -> None:
    """Make ``rows`` the complete set of children (items, lines) of one parent."""
    parent_column = MIRROR_CHILDREN[table]
    db.execute(f"DELETE FROM {table} WHERE provider = ? AND {parent_column} = ?", [provider, parent_id])
    for row in rows:
        upsert_mirror_row(db, table, row)


def mark_pending_charges_invoiced(db: sqlite_utils.Database, provider: str, charge_ids: list[str],
                                  invoice: str) -> None:
    """Stripe sends no event when an invoice sweeps a pending item; the invoice's lines say so."""
    for charge_id in charge_ids:
        db.execute("UPDATE mirror_pending_charges SET invoice = ? WHERE provider = ? AND id = ?",
                   [invoice, provider, charge_id])


def mirror_rows(db: sqlite_utils.Database, table: str, provider: str | None = None) -> list[dict]:
    _mirror_table(table)
    if provider is None:
        return list(db.query(f"SELECT * FROM {table} ORDER BY provider, id"))
    return list(db.query(f"SELECT * FROM {table} WHERE provider = ? ORDER BY id", [provider]))


def linked_account_for_subscription(db: sqlite_utils.Database, provider: str, subscription: str) -> str | None:
    """The account billed by a subscription: the accounts table first, then the mirror's metadata link."""
    if db["accounts"].exists():  # the accounts table arrives with issue 2's migration
        row = db.execute("SELECT account FROM accounts WHERE provider = ? AND subscription = ? "
                         "ORDER BY linked_us DESC LIMIT 1", [provider, subscription]).fetchone()
        if row:
            return row[0]
    row = db.execute("SELECT account FROM mirror_subscriptions WHERE provider = ? AND id = ?",
                     [provider, subscription]).fetchone()
    return row[0] if row else None


def get_watermark(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM watermarks WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_watermark(db: sqlite_utils.Database, key: str, value: str, now_us: int) -> None:
    db.execute(
        "INSERT INTO watermarks (key, value, updated_us) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_us = excluded.updated_us",
        [key, value, now_us],
    )


def delete_watermarks(db: sqlite_utils.Database, prefix: str) -> None:
    db.execute("DELETE FROM watermarks WHERE key LIKE ? ESCAPE '\\'",
               [prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"])


def insert_delivery(db: sqlite_utils.Database, row: dict) -> int | None:
    """Queue a notification once per dedupe key; ``None`` when it was already queued."""
    cursor = db.execute(
        "INSERT INTO deliveries (msg_id, dedupe_key, type, account, body, created_us, next_attempt_us) "
        "VALUES (:msg_id, :dedupe_key, :type, :account, :body, :created_us, :created_us) ON CONFLICT DO NOTHING",
        row,
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def claim_deliveries(db: sqlite_utils.Database, owner: str, now_us: int, *, lease_us: int, limit: int,
                     delivery_id: int | None = None) -> list[dict]:
    with write_transaction(db):
        if delivery_id is not None:
            rows = list(db.query(
                "SELECT * FROM deliveries WHERE id = ? AND status != 'delivered' "
                "AND (claim_owner IS NULL OR claim_expires_us <= ?)", [delivery_id, now_us]))
        else:
            rows = list(db.query(
                "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_us <= ? "
                "AND (claim_owner IS NULL OR claim_expires_us <= ?) ORDER BY next_attempt_us, id LIMIT ?",
                [now_us, now_us, limit]))
        for row in rows:
            db.execute("UPDATE deliveries SET claim_owner = ?, claim_expires_us = ? WHERE id = ?",
                       [owner, now_us + lease_us, row["id"]])
    return rows


def record_delivery_attempt(db: sqlite_utils.Database, delivery_id: int, *, now_us: int, status: int | None,
                            error: str | None, outcome: str, next_attempt_us: int) -> None:
    """Log one POST and move the delivery to ``outcome`` (pending/delivered/failed)."""
    with write_transaction(db):
        db.execute("INSERT INTO delivery_attempts (delivery_id, attempted_us, status, error) VALUES (?, ?, ?, ?)",
                   [delivery_id, now_us, status, error])
        db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, status = ?, last_status = ?, last_error = ?, "
            "next_attempt_us = ?, delivered_us = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_us END, "
            "claim_owner = NULL, claim_expires_us = 0 WHERE id = ?",
            [outcome, status, error, next_attempt_us, outcome, now_us, delivery_id],
        )


def delivery_rows(db: sqlite_utils.Database, *, status: str | None = None, limit: int = 100) -> list[dict]:
    if status is None:
        return list(db.query("SELECT * FROM deliveries ORDER BY id DESC LIMIT ?", [limit]))
    return list(db.query("SELECT * FROM deliveries WHERE status = ? ORDER BY id DESC LIMIT ?", [status, limit]))


def delivery_row(db: sqlite_utils.Database, delivery_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM deliveries WHERE id = ?", [delivery_id]))
    return rows[0] if rows else None


def delivery_attempt_rows(db: sqlite_utils.Database, delivery_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", [delivery_id]))


def count_provider_rows(db: sqlite_utils.Database) -> dict[str, int]:
    """Row counts of the raw events and every mirror table (tests prove rejections stored nothing)."""
    tables = ("provider_events", *MIRROR_COLUMNS, "deliveries")
    return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}


def mark_mirror_flag(db: sqlite_utils.Database, table: str, provider: str, object_ids: list[str], flag: str) -> None:
    """Set ``deleted`` or ``voided`` on rows whose deletion event carries no newer version to guard with."""
    _mirror_table(table)
    if flag not in ("deleted", "voided"):
        raise ValueError(f"not a mirror flag: {flag}")
    for object_id in object_ids:
        db.execute(f"UPDATE {table} SET {flag} = 1 WHERE provider = ? AND id = ?", [provider, object_id])


def unaddressed_deliveries(db: sqlite_utils.Database) -> list[dict]:
    """Queued notifications whose account was not known when they were queued."""
    return list(db.query("SELECT * FROM deliveries WHERE account IS NULL AND status = 'pending' ORDER BY id"))


def address_delivery(db: sqlite_utils.Database, delivery_id: int, account: str, body: str) -> None:
    db.execute("UPDATE deliveries SET account = ?, body = ? WHERE id = ? AND account IS NULL AND status = 'pending'",
               [account, body, delivery_id])


def referenced_customers(db: sqlite_utils.Database, provider: str) -> list[str]:
    """Customer ids the provider's mirrored objects name but the mirror does not hold yet, sorted."""
    return [row[0] for row in db.execute(
        """
        SELECT customer FROM (
            SELECT customer FROM mirror_subscriptions WHERE provider = :p
            UNION SELECT customer FROM mirror_invoices WHERE provider = :p
            UNION SELECT customer FROM mirror_credit_notes WHERE provider = :p
            UNION SELECT customer FROM mirror_payments WHERE provider = :p
            UNION SELECT customer FROM mirror_pending_charges WHERE provider = :p
        ) WHERE customer IS NOT NULL
          AND customer NOT IN (SELECT id FROM mirror_customers WHERE provider = :p)
        ORDER BY customer
        """,
        {"p": provider},
    )]


def invoice_billing_pending_charge(db: sqlite_utils.Database, provider: str, charge_id: str) -> str | None:
    """The mirrored invoice whose lines bill this pending item, if any."""
    row = db.execute("SELECT invoice FROM mirror_invoice_lines WHERE provider = ? AND pending_charge = ? LIMIT 1",
                     [provider, charge_id]).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------
# Reconciliation (issue 7): read-only questions over the ledger, seat sync and
# the mirror, plus one write: ``make_account_due`` for ``reconcile --fix``.
# Mirror instants are the provider's seconds; seatsync's are microseconds.
# ---------------------------------------------------------------------------


def recon_invoices(db: sqlite_utils.Database, provider: str, subscription: str, after_s: int,
                   until_s: int) -> list[dict]:
    """Live mirrored invoices of a subscription created in (after_s, until_s), oldest first."""
    return list(db.query(
        "SELECT * FROM mirror_invoices WHERE provider = ? AND subscription = ? AND deleted = 0 "
        "AND created > ? AND created < ? ORDER BY created, id",
        [provider, subscription, after_s, until_s]))


def recon_invoice_lines(db: sqlite_utils.Database, provider: str, invoice: str) -> list[dict]:
    return list(db.query("SELECT * FROM mirror_invoice_lines WHERE provider = ? AND invoice = ? ORDER BY id",
                         [provider, invoice]))


def recon_pending_charges(db: sqlite_utils.Database, provider: str, subscription: str) -> list[dict]:
    """Pending items / unbilled charges not yet on an invoice (live, not voided)."""
    return list(db.query(
        "SELECT * FROM mirror_pending_charges WHERE provider = ? AND subscription = ? AND invoice IS NULL "
        "AND voided = 0 AND deleted = 0 ORDER BY id", [provider, subscription]))


def recon_credit_notes(db: sqlite_utils.Database, provider: str, subscription: str, after_s: int,
                       until_s: int) -> list[dict]:
    return list(db.query(
        "SELECT * FROM mirror_credit_notes WHERE provider = ? AND subscription = ? AND deleted = 0 "
        "AND created > ? AND created < ? ORDER BY created, id", [provider, subscription, after_s, until_s]))


def recon_subscription_items(db: sqlite_utils.Database, provider: str, subscription: str) -> list[dict]:
    return list(db.query("SELECT * FROM mirror_subscription_items WHERE provider = ? AND subscription = ? "
                         "ORDER BY id", [provider, subscription]))


def recon_dead_letters(db: sqlite_utils.Database, account: str) -> list[dict]:
    """Unretried dead letters of one account, with the quantity and key of their call."""
    return list(db.query(
        "SELECT d.*, c.quantity, c.idempotency_key FROM dead_letters d LEFT JOIN provider_calls c "
        "ON c.id = d.call_id WHERE d.account = ? AND d.retried_us IS NULL ORDER BY d.id", [account]))


def recon_late_changes(db: sqlite_utils.Database, account: str, since_us: int, until_us: int) -> list[dict]:
    """Late changes that took effect at the provider in [since_us, until_us) (``instant_us``, not our clock)."""
    return list(db.query(
        "SELECT * FROM late_changes WHERE account = ? AND instant_us >= ? AND instant_us < ? ORDER BY id",
        [account, since_us, until_us]))


def make_account_due(db: sqlite_utils.Database, account: str, now_us: int) -> bool:
    """Make the sync worker recompute an account from the ledger (``reconcile --fix``); False if unknown."""
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE sync_state SET synced_version = 0, dirty_since_us = COALESCE(dirty_since_us, ?), "
            "next_attempt_us = 0 WHERE account = ?", [now_us, account])
        return cursor.rowcount == 1


def timeline_product_events(db: sqlite_utils.Database, account: str) -> list[dict]:
    return list(db.query("SELECT id, type, occurred_us, received_us, body FROM product_events WHERE account = ? "
                         "ORDER BY occurred_us, id", [account]))


def timeline_provider_calls(db: sqlite_utils.Database, account: str) -> list[dict]:
    return list(db.query(
        "SELECT id, subscription, kind, operation, quantity, effective_us, idempotency_key, request_id, status, "
        "attempts, error, planned_us, completed_us FROM provider_calls WHERE account = ? ORDER BY id", [account]))


def timeline_provider_events(db: sqlite_utils.Database, provider: str, object_ids: list[str]) -> list[dict]:
    """Provider events about any of ``object_ids`` (the subscription, its invoices, credit notes)."""
    if not object_ids:
        return []
    marks = ",".join("?" * len(object_ids))
    return list(db.query(
        f"SELECT id, event_id, type, object_type, object_id, created, received_us, status, outcome "
        f"FROM provider_events WHERE provider = ? AND object_id IN ({marks}) ORDER BY created, id",
        [provider, *object_ids]))


# ---------------------------------------------------------------------------
# Seat sync planning (issue 18): what each plan stood for, so a plan is never made twice.
# ``sync_batches.covered`` is the ledger's billable quantity (snapped to the provider's dating) that a
# batch of calls stands for in one period; ``residual`` the money (provider measure units × seats) the
# batch knowingly left (adapter/seat_plan.py). Late changes carry the exact money they moved.
# ---------------------------------------------------------------------------


@MIGRATIONS(name="0700_sync_batches")
def _m0700_sync_batches(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sync_batches (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            period_start_us INTEGER NOT NULL,
            covered TEXT NOT NULL,
            window_start_us INTEGER NOT NULL,
            horizon_us INTEGER NOT NULL,
            quantity_before INTEGER,
            residual INTEGER NOT NULL DEFAULT 0,
            last_drift_id INTEGER NOT NULL DEFAULT 0,
            strategy TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dead')),
            created_us INTEGER NOT NULL
        );
        CREATE INDEX sync_batches_period ON sync_batches (subscription, period_start_us, status, id);
        ALTER TABLE provider_calls ADD COLUMN batch_id INTEGER REFERENCES sync_batches(id);
        ALTER TABLE sync_state ADD COLUMN last_dirty_us INTEGER;
        CREATE INDEX provider_calls_subscription ON provider_calls (subscription, status, completed_us);
        CREATE INDEX provider_calls_effective ON provider_calls (subscription, effective_us);
        CREATE INDEX drifts_subscription ON drifts (subscription, detected_us);

        CREATE TABLE late_changes_v2 (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            subscription TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('across_period', 'applied_now', 'shifted')),
            instant_us INTEGER NOT NULL,
            delta INTEGER NOT NULL,
            detected_us INTEGER NOT NULL,
            moved INTEGER,
            unit TEXT CHECK (unit IN ('second', 'millisecond', 'day')),
            period_units INTEGER,
            amount INTEGER,
            period_start_us INTEGER
        );
        INSERT INTO late_changes_v2 (id, account, subscription, kind, instant_us, delta, detected_us)
            SELECT id, account, subscription, kind, instant_us, delta, detected_us FROM late_changes;
        DROP TABLE late_changes;
        ALTER TABLE late_changes_v2 RENAME TO late_changes;
        CREATE INDEX late_changes_account ON late_changes (account, instant_us);
        """
    )


def open_batch(db: sqlite_utils.Database, subscription: str, period_start_us: int) -> dict | None:
    """The latest batch of this period whose calls were not refused: what the provider now stands for."""
    rows = list(db.query(
        "SELECT * FROM sync_batches WHERE subscription = ? AND period_start_us = ? AND status = 'open' "
        "ORDER BY id DESC LIMIT 1", [subscription, period_start_us]))
    return rows[0] if rows else None


def open_residuals(db: sqlite_utils.Database, subscription: str, period_start_us: int) -> int:
    return db.execute(
        "SELECT COALESCE(SUM(residual), 0) FROM sync_batches WHERE subscription = ? AND period_start_us = ? "
        "AND status = 'open'", [subscription, period_start_us]).fetchone()[0]


def record_batch(db: sqlite_utils.Database, row: dict) -> int:
    """Call inside the planning transaction, before the batch's calls are inserted."""
    return db["sync_batches"].insert(row).last_pk


def pushed_events(db: sqlite_utils.Database, account: str, subscription: str,
                  since_us: int) -> tuple[int | None, list[tuple[int, int, int]]]:
    """What seatsync set on a subscription: the quantity in force before ``since_us`` (the last one set
    or found dated before it; None if none), and (order, date, quantity) of every quantity set and every
    drift found dated from ``since_us`` on, in the order they happened (calls by completion, drifts by
    recording, both on our clock). Work is proportional to the period's events, not the history."""
    before = db.execute(
        "SELECT quantity FROM ("
        " SELECT completed_us AS happened, quantity FROM provider_calls WHERE account = :a AND subscription = :s"
        "  AND status = 'succeeded' AND quantity IS NOT NULL AND effective_us < :t"
        " UNION ALL SELECT recorded_us, provider_quantity FROM drifts WHERE account = :a AND subscription = :s"
        "  AND detected_us < :t) ORDER BY happened DESC LIMIT 1",
        {"a": account, "s": subscription, "t": since_us}).fetchone()
    calls = db.execute(
        "SELECT completed_us, 1, effective_us, quantity FROM provider_calls WHERE account = ? AND subscription = ? "
        "AND status = 'succeeded' AND quantity IS NOT NULL AND effective_us >= ?",
        [account, subscription, since_us]).fetchall()
    drifts = db.execute(
        "SELECT recorded_us, 0, detected_us, provider_quantity FROM drifts WHERE account = ? AND subscription = ? "
        "AND detected_us >= ?", [account, subscription, since_us]).fetchall()
    return (before[0] if before else None,
            [(order, date, quantity) for order, _, date, quantity in sorted(calls + drifts)])


def drifts_after(db: sqlite_utils.Database, account: str, subscription: str, after_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM drifts WHERE account = ? AND subscription = ? AND id > ? ORDER BY id",
                         [account, subscription, after_id]))


def last_drift_id(db: sqlite_utils.Database, account: str, subscription: str) -> int:
    return db.execute("SELECT COALESCE(MAX(id), 0) FROM drifts WHERE account = ? AND subscription = ?",
                      [account, subscription]).fetchone()[0]


def quantity_call_times_since(db: sqlite_utils.Database, subscription: str, since_us: int) -> list[int]:
    """When each quantity update to ``subscription`` since ``since_us`` went out (our clock), oldest first."""
    return [row[0] for row in db.execute(
        "SELECT completed_us FROM provider_calls WHERE subscription = ? AND quantity IS NOT NULL "
        "AND status = 'succeeded' AND completed_us >= ? ORDER BY completed_us", [subscription, since_us])]
