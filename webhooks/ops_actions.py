"""What ops can do from the pages (issue 14 item 6): re-push an account's quantity, retry a dead letter,
resend a notification. Each is a POST with a CSRF token (webhooks/ops.py checks it for every POST),
confirmed in the browser first, and recorded in ``ops_audit`` whatever its result; then the browser goes back
to the account page, which lists the account's audit trail.

They do what the CLI does (``reconcile --fix``, ``dead-letters retry``, ``deliveries retry``) through the same
store and adapter functions; re-push and retry only make the account due, and the sync worker sends.
"""

from __future__ import annotations

from flask import current_app, redirect, request, url_for

from adapter import accounts, store
from adapter.callbacks import notify
from adapter.clock import now_us

from . import ops_signin
from .db import get_db
from .ops import bp
from .problems import Problem


def _actor() -> str:
    """Who acted: a signed-in session (and when it signed in) or the bearer token; the token is shared, so
    the address beside it is what tells two people apart."""
    if "Authorization" in request.headers:
        return "bearer token"
    return f"session signed in at {ops_signin.signed_in_at()}"


def _record(action: str, account: str | None, target: str | None, result: str, detail: str) -> None:
    store.record_ops_action(get_db(), at_us=now_us(), actor=_actor(), address=request.remote_addr, action=action,
                            account=account, target=target, result=result, detail=detail)


def _back(account: str | None):
    if account is None:
        return redirect(url_for("ops.overview"), code=303)
    return redirect(url_for("ops.account_page", account=account) + "#audit", code=303)


@bp.post("/accounts/<account>/repush")
def repush(account: str):
    if accounts.get_account(get_db(), account) is None:
        raise Problem(404, "Not Found", f"unknown account {account!r}",
                      errors=[{"field": "account", "reason": "not linked"}])
    made_due = store.make_account_due(get_db(), account, now_us())
    _record("repush", account, None, "done" if made_due else "refused",
            "made due: the sync worker pushes the ledger's quantity" if made_due
            else "no sync state yet: the account has never been synced")
    return _back(account)


@bp.post("/dead-letters/<int:letter_id>/retry")
def retry_dead_letter(letter_id: int):
    letter = store.retry_dead_letter(get_db(), letter_id, now_us())
    if letter is None:
        _record("retry_dead_letter", request.form.get("account") or None, str(letter_id), "refused",
                "no open dead letter with this id (retried already?)")
        return _back(request.form.get("account") or None)
    _record("retry_dead_letter", letter["account"], str(letter_id), "done",
            "account made due: the worker recomputes from the ledger")
    return _back(letter["account"])


@bp.post("/deliveries/<int:delivery_id>/resend")
def resend_delivery(delivery_id: int):
    db, settings = get_db(), current_app.config["SEATSYNC"]
    row = store.delivery_row(db, delivery_id)
    account = row["account"] if row is not None else None
    if row is None or row["status"] == "delivered":
        _record("resend_delivery", account, str(delivery_id), "refused",
                "no such delivery" if row is None else "already delivered")
        return _back(account)
    if not settings.product_callback_url:
        _record("resend_delivery", account, str(delivery_id), "refused", "SEATSYNC_PRODUCT_CALLBACK_URL is not set")
        return _back(account)
    notify.retry_delivery(db, settings, delivery_id)  # one POST to the product, bounded by its timeout
    after = store.delivery_row(db, delivery_id) or row
    answer = after["last_status"] if after["last_status"] is not None else after["last_error"]
    _record("resend_delivery", account, str(delivery_id), "done" if after["status"] == "delivered" else "failed",
            f"{after['status']} after {after['attempts']} attempts (last answer: {answer})")
    return _back(account)


@bp.post("/reconcile")
def reconcile_now():
    """Ask the worker for a reconcile run now; the page shows it once stored (never run inside a request)."""
    db, settings = get_db(), current_app.config["SEATSYNC"]
    pending = store.reconcile_request(db)
    if pending is not None:
        _record("reconcile_now", None, None, "refused",
                f"a request (audit {pending}) is already waiting for the worker")
        return redirect(url_for("ops.reconciliation"), code=303)
    audit_id = store.record_ops_action(
        db, at_us=now_us(), actor=_actor(), address=request.remote_addr, action="reconcile_now", account=None,
        target=None, result="done",
        detail="requested: the sync worker's reconcile thread runs and stores it on its next poll"
        + ("" if settings.reconcile_interval > 0 else " (scheduled runs are off; requested ones still run)"))
    store.request_reconcile_run(db, audit_id, now_us())
    return redirect(url_for("ops.reconciliation"), code=303)
