"""Seat sync's state: per-account sync state and leases, planned and sent provider calls, batches (what each
plan stood for), drifts, late changes, dead letters. Instants are integer microseconds (``*_us``)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from adapter.store.connection import Row, insert_row, write_transaction


def mark_accounts_dirty(db: sqlite_utils.Database, accounts: Iterable[str], now_us: int) -> None:
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
                       exclude_owner: bool = False) -> list[Row]:
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
                   OR EXISTS (SELECT 1 FROM provider_calls c
                              WHERE c.account = sync_state.account AND c.status = 'planned'))
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


def sync_state(db: sqlite_utils.Database, account: str) -> Row | None:
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


def drifts_for(db: sqlite_utils.Database, account: str, subscription: str) -> list[Row]:
    return list(db.query("SELECT * FROM drifts WHERE account = ? AND subscription = ? ORDER BY id",
                         [account, subscription]))


def calls_planned_count(db: sqlite_utils.Database, subscription: str) -> int:
    count: int = db.execute("SELECT COUNT(*) FROM provider_calls WHERE subscription = ?",
                            [subscription]).fetchone()[0]
    return count


def plan_calls(db: sqlite_utils.Database, calls: list[Row]) -> list[int]:
    """Record planned provider calls (before any is sent) and return their ids, in order."""
    with write_transaction(db):
        return [insert_row(db, "provider_calls", call) for call in calls]


def planned_calls(db: sqlite_utils.Database, account: str) -> list[Row]:
    return list(db.query("SELECT * FROM provider_calls WHERE account = ? AND status = 'planned' ORDER BY id",
                         [account]))


def record_call_attempt(db: sqlite_utils.Database, call_id: int) -> None:
    db.execute("UPDATE provider_calls SET attempts = attempts + 1 WHERE id = ?", [call_id])


def complete_call(db: sqlite_utils.Database, call_id: int, *, request_id: str | None, response: str,
                  completed_us: int) -> None:
    db.execute(
        "UPDATE provider_calls SET status = 'succeeded', request_id = ?, response = ?, completed_us = ? WHERE id = ?",
        [request_id, response, completed_us, call_id],
    )


def dead_letter_call(db: sqlite_utils.Database, call: Row, *, code: str | None, status: int | None, reason: str,
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
        return insert_row(db, "dead_letters", {
            "call_id": call["id"], "account": call["account"], "subscription": call["subscription"],
            "operation": call["operation"], "code": code, "status": status, "reason": reason,
            "request_id": request_id, "created_us": now_us,
        })


def dead_letter_read(db: sqlite_utils.Database, account: str, subscription: str, *, operation: str,
                     code: str | None, status: int | None, reason: str, request_id: str | None, now_us: int) -> int:
    """A permanent failure before any call was planned (say the subscription is unknown)."""
    with write_transaction(db):
        return insert_row(db, "dead_letters", {
            "call_id": None, "account": account, "subscription": subscription, "operation": operation,
            "code": code, "status": status, "reason": reason, "request_id": request_id, "created_us": now_us,
        })


def dead_letters(db: sqlite_utils.Database, *, include_retried: bool = False) -> list[Row]:
    where = "" if include_retried else "WHERE d.retried_us IS NULL"
    return list(db.query(
        f"""
        SELECT d.*, c.kind, c.quantity, c.idempotency_key, c.version
        FROM dead_letters d LEFT JOIN provider_calls c ON c.id = d.call_id {where} ORDER BY d.id
        """
    ))


def retry_dead_letter(db: sqlite_utils.Database, dead_letter_id: int, now_us: int) -> Row | None:
    """Mark a dead letter retried and make its account due: the worker recomputes from the ledger."""
    with write_transaction(db):
        rows = list(db.query("SELECT * FROM dead_letters WHERE id = ? AND retried_us IS NULL", [dead_letter_id]))
        if not rows:
            return None
        db.execute("UPDATE dead_letters SET retried_us = ? WHERE id = ?", [now_us, dead_letter_id])
        db.execute(
            "UPDATE sync_state SET synced_version = 0, dirty_since_us = COALESCE(dirty_since_us, ?), "
            "next_attempt_us = 0 WHERE account = ?",
            [now_us, rows[0]["account"]],
        )
        return rows[0]


def succeeded_quantity_calls(db: sqlite_utils.Database, account: str, subscription: str) -> list[Row]:
    """The pushed timeline: every quantity seatsync set on this subscription, in the order sent."""
    return list(db.query(
        "SELECT effective_us, quantity, completed_us FROM provider_calls WHERE account = ? AND subscription = ? "
        "AND status = 'succeeded' AND quantity IS NOT NULL ORDER BY id",
        [account, subscription],
    ))


def quantity_calls_since(db: sqlite_utils.Database, subscription: str, since_us: int) -> int:
    """Quantity updates sent to one subscription since ``since_us`` (Stripe allows 200 an hour)."""
    count: int = db.execute(
        "SELECT COUNT(*) FROM provider_calls WHERE subscription = ? AND quantity IS NOT NULL "
        "AND status = 'succeeded' AND completed_us >= ?",
        [subscription, since_us],
    ).fetchone()[0]
    return count


def record_drift(db: sqlite_utils.Database, account: str, subscription: str, *, expected: int | None,
                 actual: int, now_us: int, recorded_us: int | None = None) -> int:
    """``now_us`` is the provider's clock (the instant the drift is billed from); ``recorded_us`` ours."""
    return insert_row(db, "drifts", {
        "account": account, "subscription": subscription, "expected_quantity": expected,
        "provider_quantity": actual, "detected_us": now_us,
        "recorded_us": now_us if recorded_us is None else recorded_us,
    })


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
            late_id: int = row[0]
            return late_id
    return insert_row(db, "late_changes", {
        "account": account, "subscription": subscription, "kind": kind, "instant_us": instant_us,
        "delta": delta, "detected_us": now_us, "moved": moved, "unit": unit, "period_units": period_units,
        "amount": amount, "period_start_us": period_start_us,
    })


def open_batch(db: sqlite_utils.Database, subscription: str, period_start_us: int) -> Row | None:
    """The latest batch of this period whose calls were not refused: what the provider now stands for."""
    rows = list(db.query(
        "SELECT * FROM sync_batches WHERE subscription = ? AND period_start_us = ? AND status = 'open' "
        "ORDER BY id DESC LIMIT 1", [subscription, period_start_us]))
    return rows[0] if rows else None


def open_residuals(db: sqlite_utils.Database, subscription: str, period_start_us: int) -> int:
    residual: int = db.execute(
        "SELECT COALESCE(SUM(residual), 0) FROM sync_batches WHERE subscription = ? AND period_start_us = ? "
        "AND status = 'open'", [subscription, period_start_us]).fetchone()[0]
    return residual


def record_batch(db: sqlite_utils.Database, row: Row) -> int:
    """Call inside the planning transaction, before the batch's calls are inserted."""
    return insert_row(db, "sync_batches", row)


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


def drifts_after(db: sqlite_utils.Database, account: str, subscription: str, after_id: int) -> list[Row]:
    return list(db.query("SELECT * FROM drifts WHERE account = ? AND subscription = ? AND id > ? ORDER BY id",
                         [account, subscription, after_id]))


def last_drift_id(db: sqlite_utils.Database, account: str, subscription: str) -> int:
    last: int = db.execute("SELECT COALESCE(MAX(id), 0) FROM drifts WHERE account = ? AND subscription = ?",
                           [account, subscription]).fetchone()[0]
    return last


def quantity_call_times_since(db: sqlite_utils.Database, subscription: str, since_us: int) -> list[int]:
    """When each quantity update to ``subscription`` since ``since_us`` went out (our clock), oldest first."""
    return [row[0] for row in db.execute(
        "SELECT completed_us FROM provider_calls WHERE subscription = ? AND quantity IS NOT NULL "
        "AND status = 'succeeded' AND completed_us >= ? ORDER BY completed_us", [subscription, since_us])]


def unsynced_accounts(db: sqlite_utils.Database) -> list[str]:
    """Accounts whose ledger has changes the worker has not pushed yet."""
    return [row[0] for row in db.execute(
        "SELECT account FROM sync_state WHERE ledger_version > synced_version ORDER BY account").fetchall()]
