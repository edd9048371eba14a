"""Product events and the seat ledger's facts (``product_events`` raw; seat, snapshot, plan and addon facts;
account links), indexed for the ledger's questions (adapter/ledger.py holds the ordering rules)."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row


def stored_event_bodies(db: sqlite_utils.Database, ids: list[str]) -> dict[str, str]:
    """``{id: canonical body}`` for those of ``ids`` already stored."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, body FROM product_events WHERE id IN ({marks})", chunk).fetchall())
    return found


def insert_product_events(db: sqlite_utils.Database, rows: list[tuple[str, str, str, int, int, str]]) -> None:
    """Rows of (id, type, account, occurred_us, received_us, body); call inside a write transaction."""
    db.conn.executemany(
        "INSERT INTO product_events (id, type, account, occurred_us, received_us, body) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def insert_seat_facts(db: sqlite_utils.Database, rows: list[tuple[str, str, str, int, int]]) -> None:
    """Rows of (event_id, account, user, occurred_us, active 1 or 0)."""
    db.conn.executemany(
        "INSERT INTO seat_facts (event_id, account, user, occurred_us, active) VALUES (?, ?, ?, ?, ?)", rows
    )


def insert_snapshot(db: sqlite_utils.Database, event_id: str, account: str, occurred_us: int,
                    users: list[str]) -> None:
    db.execute("INSERT INTO snapshots (event_id, account, occurred_us) VALUES (?, ?, ?)",
               [event_id, account, occurred_us])
    db.conn.executemany("INSERT INTO snapshot_users (event_id, user) VALUES (?, ?)",
                        [(event_id, user) for user in users])


def insert_plan_facts(db: sqlite_utils.Database, rows: list[tuple[str, str, int, str]]) -> None:
    """Rows of (event_id, account, occurred_us, plan)."""
    db.conn.executemany("INSERT INTO plan_facts (event_id, account, occurred_us, plan) VALUES (?, ?, ?, ?)", rows)


def insert_addon_facts(db: sqlite_utils.Database, rows: list[tuple[str, str, int, str]]) -> None:
    """Rows of (event_id, account, occurred_us, addons as a JSON array)."""
    db.conn.executemany("INSERT INTO addon_facts (event_id, account, occurred_us, addons) VALUES (?, ?, ?, ?)",
                        rows)


def upsert_account_link(db: sqlite_utils.Database, row: Row) -> None:
    """Keep the link from the latest ``account.linked`` by (instant, event id), whatever the arrival order;
    an ``account.unlinked`` later than it (already stored) wins."""
    db.execute(
        """
        INSERT INTO accounts (account, provider, subscription, plan, timezone, linked_us, event_id)
        SELECT :account, :provider, :subscription, :plan, :timezone, :linked_us, :event_id
        WHERE NOT EXISTS (SELECT 1 FROM product_events u WHERE u.type = 'account.unlinked'
                          AND u.account = :account AND (u.occurred_us, u.id) > (:linked_us, :event_id))
        ON CONFLICT(account) DO UPDATE SET
            provider = excluded.provider, subscription = excluded.subscription, plan = excluded.plan,
            timezone = excluded.timezone, linked_us = excluded.linked_us, event_id = excluded.event_id
        WHERE (excluded.linked_us, excluded.event_id) > (accounts.linked_us, accounts.event_id)
        """,
        row,
    )


def remove_account_link(db: sqlite_utils.Database, account: str, unlinked_us: int, event_id: str) -> None:
    """An ``account.unlinked``: the account's link ends when it is older than the unlink."""
    db.execute("DELETE FROM accounts WHERE account = ? AND (linked_us, event_id) < (?, ?)",
               [account, unlinked_us, event_id])


def latest_unlink(db: sqlite_utils.Database, account: str) -> tuple[int, str] | None:
    """(instant, event id) of the account's latest stored ``account.unlinked``."""
    row = db.execute("SELECT occurred_us, id FROM product_events WHERE type = 'account.unlinked' AND account = ? "
                     "ORDER BY occurred_us DESC, id DESC LIMIT 1", [account]).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def account_for_subscription(db: sqlite_utils.Database, provider: str, subscription: str) -> str | None:
    """The account linked to (provider, subscription), by the ledger's links only (one at most)."""
    row = db.execute("SELECT account FROM accounts WHERE provider = ? AND subscription = ?",
                     [provider, subscription]).fetchone()
    return row[0] if row else None


def account_link(db: sqlite_utils.Database, account: str) -> Row | None:
    rows = list(db.query("SELECT * FROM accounts WHERE account = ?", [account]))
    return rows[0] if rows else None


def linked_accounts(db: sqlite_utils.Database) -> list[Row]:
    return list(db.query("SELECT * FROM accounts ORDER BY account"))


def latest_snapshot(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, int] | None:
    """(event id, instant) of the snapshot in force at ``at_us``; same-instant snapshots: highest id wins."""
    row: tuple[str, int] | None = db.execute(
        "SELECT event_id, occurred_us FROM snapshots WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()
    return row


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


def seat_facts_between(db: sqlite_utils.Database, account: str, start_us: int,
                       end_us: int) -> list[tuple[int, str, int, str]]:
    """(occurred_us, user, active, event id) in [start_us, end_us), in instant order."""
    return db.execute(
        "SELECT occurred_us, user, active, event_id FROM seat_facts "
        "WHERE account = ? AND occurred_us >= ? AND occurred_us < ? ORDER BY occurred_us, user, active DESC, event_id",
        [account, start_us, end_us],
    ).fetchall()


def snapshots_between(db: sqlite_utils.Database, account: str, start_us: int,
                      end_us: int) -> list[tuple[int, str]]:
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
    row: tuple[str, int, str] | None = db.execute(
        "SELECT plan, occurred_us, event_id FROM plan_facts WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()
    return row


def plan_facts_between(db: sqlite_utils.Database, account: str, start_us: int,
                       end_us: int) -> list[tuple[int, str, str]]:
    """(occurred_us, plan, event id) in [start_us, end_us), in (instant, event id) order."""
    return db.execute(
        "SELECT occurred_us, plan, event_id FROM plan_facts WHERE account = ? AND occurred_us >= ? "
        "AND occurred_us < ? ORDER BY occurred_us, event_id",
        [account, start_us, end_us],
    ).fetchall()


def addon_fact_at(db: sqlite_utils.Database, account: str, at_us: int) -> tuple[str, int, str] | None:
    """(addons JSON, instant, event id) in force at ``at_us``."""
    row: tuple[str, int, str] | None = db.execute(
        "SELECT addons, occurred_us, event_id FROM addon_facts WHERE account = ? AND occurred_us <= ? "
        "ORDER BY occurred_us DESC, event_id DESC LIMIT 1",
        [account, at_us],
    ).fetchone()
    return row


def addon_facts_between(db: sqlite_utils.Database, account: str, start_us: int,
                        end_us: int) -> list[tuple[int, str, str]]:
    """(occurred_us, addons JSON, event id) in [start_us, end_us), in (instant, event id) order."""
    return db.execute(
        "SELECT occurred_us, addons, event_id FROM addon_facts WHERE account = ? AND occurred_us >= ? "
        "AND occurred_us < ? ORDER BY occurred_us, event_id",
        [account, start_us, end_us],
    ).fetchall()


def count_product_rows(db: sqlite_utils.Database) -> dict[str, int]:
    """Row counts of every intake table (tests use it to prove a rejection stored nothing)."""
    tables = ("product_events", "seat_facts", "snapshots", "snapshot_users", "plan_facts", "addon_facts", "accounts")
    return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}


def ever_linked(db: sqlite_utils.Database, account: str) -> bool:
    """Whether any ``account.linked`` for ``account`` is stored (an unlinked account was linked once)."""
    return db.execute("SELECT 1 FROM product_events WHERE type = 'account.linked' AND account = ? LIMIT 1",
                      [account]).fetchone() is not None


def linked_accounts_page(db: sqlite_utils.Database, *, search: str, limit: int, offset: int) -> tuple[list[Row], int]:
    """A page of ``accounts`` by name, and the count that match. ``search`` is matched literally (``%`` and
    ``_`` escaped), case-insensitively for ASCII (SQLite's LIKE)."""
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = "WHERE account LIKE ? ESCAPE '\\'"
    total = db.execute(f"SELECT count(*) FROM accounts {where}", [pattern]).fetchone()[0]
    rows = list(db.query(f"SELECT * FROM accounts {where} ORDER BY account LIMIT ? OFFSET ?", [pattern, limit, offset]))
    return rows, total
