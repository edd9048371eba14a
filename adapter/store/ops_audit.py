"""The ops pages' audit trail (issue 14 item 6): one row per action, whatever its result."""

from __future__ import annotations

import sqlite_utils

from adapter.store.callbacks import get_watermark, set_watermark
from adapter.store.connection import Row, insert_row, write_transaction

__all__ = ["OPS_ACTIONS", "ops_audit_rows", "reconcile_request", "record_ops_action", "request_reconcile_run",
           "serve_reconcile_request"]

OPS_ACTIONS = ("repush", "retry_dead_letter", "resend_delivery", "reconcile_now")


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


# "Run reconcile now" from the ops pages: the page never runs one itself (a full run takes minutes at scale),
# it leaves a request the worker's reconcile thread serves on its next poll. Requests and the one served
# last are audit row ids, not instants: the worker's clock (a demo's, a test clock's) is not the page's.
_REQUESTED, _SERVED = "ops_reconcile_requested", "ops_reconcile_served"


def request_reconcile_run(db: sqlite_utils.Database, audit_id: int, now_us: int) -> None:
    with write_transaction(db):
        set_watermark(db, _REQUESTED, str(audit_id), now_us)


def reconcile_request(db: sqlite_utils.Database) -> int | None:
    """The audit id of a request not served yet, or None."""
    requested, served = get_watermark(db, _REQUESTED), get_watermark(db, _SERVED)
    return int(requested) if requested is not None and requested != served else None


def serve_reconcile_request(db: sqlite_utils.Database, audit_id: int, now_us: int) -> None:
    with write_transaction(db):
        set_watermark(db, _SERVED, str(audit_id), now_us)
