"""Reconciliation's read-only questions over the ledger, seat sync and the mirror, plus one write:
``make_account_due`` for ``reconcile --fix``. Mirror instants are the provider's seconds."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row, write_transaction

# The per-account questions, named so that tests/reconcile/test_query_plans.py can EXPLAIN each one: every
# one must search an index on its whole WHERE (never the provider alone) and need no sort.
INVOICES_SQL = ("SELECT * FROM mirror_invoices WHERE provider = ? AND subscription = ? AND deleted = 0 "
                "AND created > ? AND created < ? ORDER BY created, id")
INVOICE_LINES_SQL = "SELECT * FROM mirror_invoice_lines WHERE provider = ? AND invoice = ? ORDER BY id"
PENDING_CHARGES_SQL = ("SELECT * FROM mirror_pending_charges WHERE provider = ? AND subscription = ? "
                       "AND invoice IS NULL AND voided = 0 AND deleted = 0 ORDER BY id")
CREDIT_NOTES_SQL = ("SELECT * FROM mirror_credit_notes WHERE provider = ? AND subscription = ? AND deleted = 0 "
                    "AND created > ? AND created < ? ORDER BY created, id")
SUBSCRIPTION_ITEMS_SQL = "SELECT * FROM mirror_subscription_items WHERE provider = ? AND subscription = ? ORDER BY id"
DEAD_LETTERS_SQL = ("SELECT d.*, c.quantity, c.idempotency_key FROM dead_letters d LEFT JOIN provider_calls c "
                    "ON c.id = d.call_id WHERE d.account = ? AND d.retried_us IS NULL ORDER BY d.id")
LATE_CHANGES_SQL = "SELECT * FROM late_changes WHERE account = ? AND instant_us >= ? AND instant_us < ? ORDER BY id"
# name → (SQL, sample parameters) for the plan test.
PER_ACCOUNT_QUERIES = {
    "invoices": (INVOICES_SQL, ["stripe", "sub", 0, 1]),
    "invoice_lines": (INVOICE_LINES_SQL, ["stripe", "in"]),
    "pending_charges": (PENDING_CHARGES_SQL, ["stripe", "sub"]),
    "credit_notes": (CREDIT_NOTES_SQL, ["chargebee", "sub", 0, 1]),
    "subscription_items": (SUBSCRIPTION_ITEMS_SQL, ["stripe", "sub"]),
    "dead_letters": (DEAD_LETTERS_SQL, ["acct"]),
    "late_changes": (LATE_CHANGES_SQL, ["acct", 0, 1]),
}


def recon_invoices(db: sqlite_utils.Database, provider: str, subscription: str, after_s: int,
                   until_s: int) -> list[Row]:
    """Live mirrored invoices of a subscription created in (after_s, until_s), oldest first."""
    return list(db.query(INVOICES_SQL, [provider, subscription, after_s, until_s]))


def recon_invoice_lines(db: sqlite_utils.Database, provider: str, invoice: str) -> list[Row]:
    return list(db.query(INVOICE_LINES_SQL, [provider, invoice]))


def recon_pending_charges(db: sqlite_utils.Database, provider: str, subscription: str) -> list[Row]:
    """Pending items / unbilled charges not yet on an invoice (live, not voided)."""
    return list(db.query(PENDING_CHARGES_SQL, [provider, subscription]))


def recon_credit_notes(db: sqlite_utils.Database, provider: str, subscription: str, after_s: int,
                       until_s: int) -> list[Row]:
    return list(db.query(CREDIT_NOTES_SQL, [provider, subscription, after_s, until_s]))


def recon_subscription_items(db: sqlite_utils.Database, provider: str, subscription: str) -> list[Row]:
    return list(db.query(SUBSCRIPTION_ITEMS_SQL, [provider, subscription]))


def recon_dead_letters(db: sqlite_utils.Database, account: str) -> list[Row]:
    """Unretried dead letters of one account, with the quantity and key of their call."""
    return list(db.query(DEAD_LETTERS_SQL, [account]))


def recon_late_changes(db: sqlite_utils.Database, account: str, since_us: int, until_us: int) -> list[Row]:
    """Late changes that took effect at the provider in [since_us, until_us) (``instant_us``, not our clock)."""
    return list(db.query(LATE_CHANGES_SQL, [account, since_us, until_us]))


def make_account_due(db: sqlite_utils.Database, account: str, now_us: int) -> bool:
    """Make the sync worker recompute an account from the ledger (``reconcile --fix``); False if unknown."""
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE sync_state SET synced_version = 0, dirty_since_us = COALESCE(dirty_since_us, ?), "
            "next_attempt_us = 0 WHERE account = ?", [now_us, account])
        return cursor.rowcount == 1


def timeline_product_events(db: sqlite_utils.Database, account: str) -> list[Row]:
    return list(db.query("SELECT id, type, occurred_us, received_us, body FROM product_events WHERE account = ? "
                         "ORDER BY occurred_us, id", [account]))


def timeline_provider_calls(db: sqlite_utils.Database, account: str) -> list[Row]:
    return list(db.query(
        "SELECT id, subscription, kind, operation, quantity, effective_us, idempotency_key, request_id, status, "
        "attempts, error, planned_us, completed_us FROM provider_calls WHERE account = ? ORDER BY id", [account]))


def timeline_provider_events(db: sqlite_utils.Database, provider: str, object_ids: list[str]) -> list[Row]:
    """Provider events about any of ``object_ids`` (the subscription, its invoices, credit notes)."""
    if not object_ids:
        return []
    marks = ",".join("?" * len(object_ids))
    return list(db.query(
        f"SELECT id, event_id, type, object_type, object_id, created, received_us, status, outcome "
        f"FROM provider_events WHERE provider = ? AND object_id IN ({marks}) ORDER BY created, id",
        [provider, *object_ids]))


def recon_never_linked_accounts(db: sqlite_utils.Database) -> list[str]:
    """Accounts with seat events or snapshots but no ``account.linked`` ever stored: seats nobody bills."""
    return [row["account"] for row in db.query(
        "SELECT account FROM (SELECT DISTINCT account FROM seat_facts UNION SELECT DISTINCT account FROM snapshots) s "
        "WHERE NOT EXISTS (SELECT 1 FROM product_events p WHERE p.type = 'account.linked' AND p.account = s.account) "
        "ORDER BY account")]
