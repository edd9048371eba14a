"""``POST /webhooks/product``: the product's signed seat feed.

verify (Standard Webhooks) → intake (parse + validate, pure) → ledger (one
write transaction) → 202 after COMMIT. Every rejection is problem JSON naming
the field or header, and stores nothing.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, request
from werkzeug.exceptions import HTTPException

from adapter import ledger, metrics
from adapter.billing.policy import CatalogError, load_catalog
from adapter.callbacks import notify
from adapter.clock import now_us
from adapter.config import ConfigError
from adapter.intake import parse as intake
from adapter.intake import signing
from adapter.intake.group_commit import GroupCommitter
from adapter.store.connection import open_db

from .problems import Problem

bp = Blueprint("product", __name__)



def known_ids(app: Flask) -> tuple[frozenset[str], frozenset[str]]:
    """(plan ids, addon ids) of the catalogue in ``SEATSYNC_MAPPINGS``, read once per app."""
    cached = app.extensions.get("seatsync.catalog_ids")
    if cached is None:
        catalog = load_catalog(app.config["SEATSYNC"].mappings)
        cached = (frozenset(catalog.plans), frozenset(catalog.addons))
        app.extensions["seatsync.catalog_ids"] = cached
    return cached


def committer(app: Flask) -> GroupCommitter:
    """The app's group committer: concurrent intake requests share one transaction and one fsync."""
    found = app.extensions.get("seatsync.intake_committer")
    if found is None:
        database = app.config["SEATSYNC"].database
        mode = app.config["SEATSYNC"].unlinked_events

        def record(db, batches):
            return ledger.record_batches(db, batches, unlinked_events=mode, on_unlinked=notify.notify_unlinked)

        found = app.extensions.setdefault("seatsync.intake_committer", GroupCommitter(
            lambda: open_db(database, migrate=False), record, lock_path=f"{database}-intake.lock"))
    return found


@bp.post("/webhooks/product")
def receive_product_events():
    try:
        body, status = _receive()
    except Problem as problem:
        metrics.INTAKE_REJECTED.labels(problem.slug).inc()
        raise
    except HTTPException as exc:  # 413 while reading the body
        metrics.INTAKE_REJECTED.labels(str(exc.name).lower().replace(" ", "-")).inc()
        raise
    for result in body["results"]:
        metrics.INTAKE_EVENTS.labels(result["result"]).inc()
    return body, status


def _receive() -> tuple[dict, int]:
    settings = current_app.config["SEATSYNC"]
    body = request.get_data(cache=False)  # MAX_CONTENT_LENGTH applies: 413 before reading more
    try:
        signing.verify(settings.product_secrets, body, request.headers)
    except signing.SignatureError as exc:
        raise Problem(401, "Invalid signature", f"{exc.header}: {exc.reason}",
                      errors=[{"field": exc.header, "reason": exc.reason}]) from None
    if request.mimetype != "application/json":
        raise Problem(415, "Unsupported Media Type", "send the events as application/json",
                      errors=[{"field": "Content-Type",
                               "reason": f"must be application/json, got {request.content_type or 'nothing'!r}"}])
    plans, addons = known_ids(current_app)
    try:
        batch = intake.parse_body(body, plans=plans, addons=addons,
                                  latest_us=now_us() + int(settings.max_future * 1_000_000))
        # 202 only after the transaction holding this batch is committed (group commit).
        recorded = committer(current_app).run(batch)
    except intake.IntakeError as exc:
        raise Problem(exc.status, exc.title, exc.detail or "; ".join(f"{e['field'] or '/'}: {e['reason']}"
                                                                      for e in exc.errors[:5]),
                      errors=exc.errors) from None
    except ledger.EventConflict as exc:
        raise Problem(409, "Conflicting event id",
                      "an event id was already accepted with a different body; resend the original event",
                      errors=exc.errors) from None
    except ledger.LinkConflict as exc:
        holder, wanted = exc.accounts
        raise Problem(409, "Subscription already linked",
                      f"the subscription is linked to account {holder!r}; it cannot also bill {wanted!r}. "
                      f"Send account.unlinked for {holder!r} first; nothing was stored",
                      errors=exc.errors) from None
    return {"results": recorded.results}, 202


def init_app(app: Flask) -> None:
    # A broken catalogue stops start-up, naming the setting, instead of failing the first request.
    try:
        known_ids(app)
    except CatalogError as exc:
        more = f" (and {len(exc.errors) - 1} more: run `seatsync policies check`)" if len(exc.errors) > 1 else ""
        raise ConfigError("SEATSYNC_MAPPINGS", f"{exc.errors[0]}{more}") from None
    app.register_blueprint(bp)
