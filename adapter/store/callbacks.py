"""Provider callbacks: raw provider events, the normalized mirror of what the provider billed, and
watermarks (sweeper, backfill cursors). Provider timestamps are the provider's own units (seconds;
Chargebee ``resource_version`` milliseconds); seatsync's instants are microseconds (``*_us``)."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row, write_transaction

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

def insert_provider_event(db: sqlite_utils.Database, row: Row) -> bool:
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
                          limit: int) -> list[Row]:
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
                        status: str | None = None) -> list[Row]:
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


def mirror_row(db: sqlite_utils.Database, table: str, provider: str, object_id: str) -> Row | None:
    _mirror_table(table)
    rows = list(db.query(f"SELECT * FROM {table} WHERE provider = ? AND id = ?", [provider, object_id]))
    return rows[0] if rows else None


MONOTONIC_FLAGS = ("deleted", "voided")


def upsert_mirror_row(db: sqlite_utils.Database, table: str, row: Row) -> None:
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
                            rows: list[Row]) -> None:
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


def mirror_rows(db: sqlite_utils.Database, table: str, provider: str | None = None) -> list[Row]:
    _mirror_table(table)
    if provider is None:
        return list(db.query(f"SELECT * FROM {table} ORDER BY provider, id"))
    return list(db.query(f"SELECT * FROM {table} WHERE provider = ? ORDER BY id", [provider]))


def linked_account_for_subscription(db: sqlite_utils.Database, provider: str, subscription: str) -> str | None:
    """The account billed by a subscription: the accounts table first, then the mirror's metadata link."""
    if db["accounts"].exists():  # the accounts table arrives with issue 2's migration
        linked: tuple[str] | None = db.execute("SELECT account FROM accounts WHERE provider = ? AND subscription = ? "
                                               "ORDER BY linked_us DESC LIMIT 1", [provider, subscription]).fetchone()
        if linked:
            return linked[0]
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
