"""Product notifications: the delivery queue (deduplicated per key) and its attempt log."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row, write_transaction


def insert_delivery(db: sqlite_utils.Database, row: Row) -> int | None:
    """Queue a notification once per dedupe key; ``None`` when it was already queued."""
    cursor = db.execute(
        "INSERT INTO deliveries (msg_id, dedupe_key, type, account, body, created_us, next_attempt_us) "
        "VALUES (:msg_id, :dedupe_key, :type, :account, :body, :created_us, :created_us) ON CONFLICT DO NOTHING",
        row,
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def claim_deliveries(db: sqlite_utils.Database, owner: str, now_us: int, *, lease_us: int, limit: int,
                     delivery_id: int | None = None) -> list[Row]:
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


def delivery_rows(db: sqlite_utils.Database, *, status: str | None = None, limit: int = 100) -> list[Row]:
    if status is None:
        return list(db.query("SELECT * FROM deliveries ORDER BY id DESC LIMIT ?", [limit]))
    return list(db.query("SELECT * FROM deliveries WHERE status = ? ORDER BY id DESC LIMIT ?", [status, limit]))


def delivery_row(db: sqlite_utils.Database, delivery_id: int) -> Row | None:
    rows = list(db.query("SELECT * FROM deliveries WHERE id = ?", [delivery_id]))
    return rows[0] if rows else None


def delivery_attempt_rows(db: sqlite_utils.Database, delivery_id: int) -> list[Row]:
    return list(db.query("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id", [delivery_id]))


def unaddressed_deliveries(db: sqlite_utils.Database) -> list[Row]:
    """Queued notifications whose account was not known when they were queued."""
    return list(db.query("SELECT * FROM deliveries WHERE account IS NULL AND status = 'pending' ORDER BY id"))


def address_delivery(db: sqlite_utils.Database, delivery_id: int, account: str, body: str) -> None:
    db.execute("UPDATE deliveries SET account = ?, body = ? WHERE id = ? AND account IS NULL AND status = 'pending'",
               [account, body, delivery_id])


def account_undelivered(db: sqlite_utils.Database, account: str, *, limit: int = 20) -> list[Row]:
    """One account's notifications not delivered (pending or failed), newest first: what ops may resend."""
    return list(db.query("SELECT * FROM deliveries WHERE account = ? AND status != 'delivered' ORDER BY id DESC "
                         "LIMIT ?", [account, limit]))
