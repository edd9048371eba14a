"""Sync holds (an account whose subscription seat sync leaves alone: cancelled or paused, and why) and the
price switches seat sync was asked to schedule (issue 19)."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row

__all__ = ["clear_sync_hold", "record_sync_hold", "request_price_switch", "sync_hold", "sync_holds"]


def record_sync_hold(db: sqlite_utils.Database, row: Row) -> bool:
    """Record (or refresh) why an account is held; True when the reason is new (not a re-run)."""
    before = sync_hold(db, row["account"])
    same = before is not None and all(before[k] == row[k] for k in ("subscription", "state", "since_us", "reason"))
    if same:
        return False
    db.execute(
        "INSERT INTO sync_holds (account, provider, subscription, state, since_us, resumes_us, reason, recorded_us) "
        "VALUES (:account, :provider, :subscription, :state, :since_us, :resumes_us, :reason, :recorded_us) "
        "ON CONFLICT(account) DO UPDATE SET provider = excluded.provider, subscription = excluded.subscription, "
        "state = excluded.state, since_us = excluded.since_us, resumes_us = excluded.resumes_us, "
        "reason = excluded.reason, recorded_us = excluded.recorded_us", row)
    return True


def clear_sync_hold(db: sqlite_utils.Database, account: str) -> bool:
    return db.execute("DELETE FROM sync_holds WHERE account = ?", [account]).rowcount == 1


def sync_hold(db: sqlite_utils.Database, account: str) -> Row | None:
    rows = list(db.query("SELECT * FROM sync_holds WHERE account = ?", [account]))
    return rows[0] if rows else None


def sync_holds(db: sqlite_utils.Database) -> list[Row]:
    return list(db.query("SELECT * FROM sync_holds ORDER BY account"))


def request_price_switch(db: sqlite_utils.Database, account: str, plan: str, item: str, effective_from: str,
                         now_us: int) -> bool:
    """Note that seat sync was asked to schedule this change for this account; False if it already was."""
    cursor = db.execute("INSERT INTO price_switches (account, plan, item, effective_from, requested_us) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", [account, plan, item, effective_from, now_us])
    return cursor.rowcount == 1
