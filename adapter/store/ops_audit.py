"""The ops pages' audit trail (issue 14 item 6): one row per action, whatever its result."""

from __future__ import annotations

import sqlite_utils

from adapter.store.connection import Row, insert_row, write_transaction

__all__ = ["OPS_ACTIONS", "ops_audit_rows", "record_ops_action"]

OPS_ACTIONS = ("repush", "retry_dead_letter", "resend_delivery")


def record_ops_action(db: sqlite_utils.Database, *, at_us: int, actor: str, address: str | None, action: str,
                      account: str | None, target: str | None, result: str, detail: str) -> int:
    with write_transaction(db):
        return insert_row(db, "ops_audit", {"at_us": at_us, "actor": actor, "address": address, "action": action,
                                            "account": account, "target": target, "result": result,
                                            "detail": detail})


def ops_audit_rows(db: sqlite_utils.Database, *, account: str | None = None, limit: int = 50) -> list[Row]:
    """The newest actions first (one account's when given)."""
    if account is None:
        return list(db.query("SELECT * FROM ops_audit ORDER BY id DESC LIMIT ?", [limit]))
    return list(db.query("SELECT * FROM ops_audit WHERE account = ? ORDER BY id DESC LIMIT ?", [account, limit]))
