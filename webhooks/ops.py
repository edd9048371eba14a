"""Ops pages: the reconciliation report and one account's billing timeline.

``/ops/reconciliation`` answers HTML (filterable, sortable), JSON or CSV from
the same route: ``?format=html|json|csv``, else the Accept header. It shows the
last stored run (the worker's scheduled one or ``seatsync reconcile --store``'s:
``adapter/reconcile/runs.py``), with its finish time and age; it never runs a
reconcile over every account inside a request. ``period`` (YYYY-MM) or
``since``/``until`` (RFC 3339) and ``tolerance`` pick the newest stored run over
exactly that window (404 naming the parameter when none is stored); ``account``
checks one account live instead (cheap). ``kind``, ``sort`` (a column) and
``order`` (asc|desc) filter and order the differences.

``/ops/accounts/<id>`` (same window parameters) joins, in time order, the account's seat events,
seatsync's provider calls (idempotency keys, request ids, status), the
provider's events and the mirrored invoice lines, next to the engine's
expected lines and the differences: "why was I charged X?" on one page.

Access: ``Authorization: Bearer $SEATSYNC_OPS_TOKEN`` (constant-time compare;
401 problem JSON without it). When ``SEATSYNC_OPS_TOKEN`` is unset the pages
do not exist: 404 problem JSON saying how to enable them (nothing about
billing is served without a token, and nothing hints that it could be).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from adapter import accounts, reconcile, store
from adapter.billing.money import format_amount
from adapter.billing.policy import CatalogError, load_catalog
from adapter.callbacks import price_notices
from adapter.clock import format_us, from_us, now_us, parse_instant, to_us
from adapter.providers import registry
from adapter.reconcile import runs
from adapter.store import metrics as store_metrics

from . import ops_charts, ops_signin
from .db import get_db
from .problems import Problem, problem_response
from .severity import severity

bp = Blueprint("ops", __name__, url_prefix="/ops")


OVERVIEW_ACCOUNTS = 20
TIMELINE_PAGE = 100
FORMATS = ("html", "json", "csv")


def _disabled():
    return problem_response(Problem(404, "Not Found", "The ops pages are disabled: set SEATSYNC_OPS_TOKEN "
                                                      "(16+ characters) to enable them.", slug="ops-disabled"))


def _bearer_problem():
    problem = Problem(401, "Unauthorized", "Send Authorization: Bearer <SEATSYNC_OPS_TOKEN>, or sign in at "
                                           "/ops/login.",
                      errors=[{"field": "Authorization", "reason": "missing or wrong bearer token"}])
    return problem_response(problem, {"WWW-Authenticate": 'Bearer realm="seatsync-ops"'})


def _bearer_ok(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def require_token():
    """``/metrics``: the bearer token only (404 while it is unset, 401 without it)."""
    settings = current_app.config["SEATSYNC"]
    if not settings.ops_token:
        return _disabled()
    return None if _bearer_ok(settings.ops_token) else _bearer_problem()


@bp.before_request
def require_sign_in():
    """The ops pages: the bearer token (scripts) or a signed-in session (browsers). Signed out, a browser
    asking for a page is sent to the sign-in (303, ``next`` = this page); anything else gets the 401 problem
    JSON. Every POST needs a CSRF token, the sign-in's included."""
    settings = current_app.config["SEATSYNC"]
    if not settings.ops_token:
        return _disabled()
    if request.method == "POST":
        ops_signin.check_csrf()
    if request.endpoint in ("ops.root", "ops.login", "ops.logout"):  # /ops only redirects to /ops/
        return None
    if "Authorization" in request.headers:
        return None if _bearer_ok(settings.ops_token) else _bearer_problem()
    if ops_signin.signed_in():
        return None
    return ops_signin.login_redirect() if ops_signin.wants_html() else _bearer_problem()


@bp.context_processor
def _template_helpers() -> dict:
    return {"signed_in": ops_signin.signed_in(), "severity": severity}


ops_signin.register(bp)


@bp.get("", endpoint="root")
def root():
    return redirect(url_for("ops.overview"), code=302)


@bp.get("/")
def overview():
    """Health (the backlog ``/metrics`` reads), the newest stored run's totals, and every linked account."""
    db = get_db()
    now = now_us()
    backlog = store_metrics.backlog(db, str(current_app.config["SEATSYNC"].database), now)
    run = store.last_reconcile_run(db)
    # The first accounts only: all of them are on /ops/accounts, paged (10,000 would not fit).
    first_accounts, account_count = accounts.page_of_accounts(db, limit=OVERVIEW_ACCOUNTS, offset=0)
    return render_template("ops/overview.html", backlog=backlog, run=run, totals=(run or {}).get("totals") or {},
                           run_age=None if run is None else max(0, (now - run["finished_us"]) // 1_000_000),
                           running=runs.in_progress(db, now),
                           accounts=first_accounts, account_count=account_count,
                           money=format_amount, age=_age, when_us=format_us, no_run=NO_RUN_YET,
                           audit=store.ops_audit_rows(db, limit=10))


def _catalog():
    settings = current_app.config["SEATSYNC"]
    cached = current_app.extensions.get("seatsync_ops_catalog")
    if cached is None:
        try:
            cached = current_app.extensions["seatsync_ops_catalog"] = load_catalog(settings.mappings)
        except CatalogError as exc:
            raise Problem(503, "Service Unavailable", f"SEATSYNC_MAPPINGS cannot be loaded: {exc}",
                          slug="ops-catalog-unavailable") from None
    return cached


def _format() -> str:
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in FORMATS:
            raise Problem(400, "Bad Request", errors=[{"field": "format", "reason": f"must be one of {FORMATS}"}])
        return fmt
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "text/csv"], default="text/html")
    return {"text/html": "html", "application/json": "json", "text/csv": "csv"}[best]


def _instant(name: str) -> int | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise Problem(400, "Bad Request", errors=[{"field": name, "reason": str(exc)}]) from None


def _window() -> tuple[int, int]:
    since, until = _open_window()
    until = now_us() if until is None else until
    if until <= since:
        raise Problem(400, "Bad Request", errors=[{"field": "until", "reason": "must be after since"}])
    return since, until


def _open_window() -> tuple[int, int | None]:
    """The window asked for; until None when none is given (each account's now, ``reconcile``)."""
    period = request.args.get("period")
    if period:
        try:
            return reconcile.month_window(period)
        except ValueError:
            raise Problem(400, "Bad Request", errors=[{"field": "period", "reason": "expected YYYY-MM"}]) from None
    since, until = _instant("since"), _instant("until")
    since = 0 if since is None else since
    if until is not None and until <= since:
        raise Problem(400, "Bad Request", errors=[{"field": "until", "reason": "must be after since"}])
    return since, until


def _positive(name: str, default: int) -> int:
    """A query parameter that is a whole number from 1 (a page), else a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Problem(400, "Bad Request", errors=[{"field": name, "reason": "a whole number from 1"}])
    return int(raw)


def _tolerance() -> int:
    raw = request.args.get("tolerance", str(reconcile.DEFAULT_TOLERANCE))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:  # "²".isdigit() is True; int() caps digits
        raise Problem(400, "Bad Request", errors=[{"field": "tolerance", "reason": "must be a whole number >= 0"}])
    return int(raw)


def _run(account: str, since: int, until: int | None, tolerance: int) -> reconcile.Report:
    """One account checked now: its provider's clock when it has one (a Stripe test clock, the Chargebee time
    machine, read through ``adapter/reconcile/clocks.py``), as the worker's stored runs take it."""
    db, now = get_db(), now_us()
    clock = reconcile.provider_clocks(db, registry.seat_clients(current_app.config["SEATSYNC"]))
    try:
        latest = reconcile.latest_now(db, now_us=now, clock=clock, account=account)  # read once, kept by ``clock``
    except Exception as exc:  # noqa: BLE001 - the provider's answer, whatever it is: the check cannot run
        raise Problem(503, "Service Unavailable", f"the provider's clock could not be read: {exc}",
                      slug="provider-clock-unavailable") from None
    if until is None and since >= latest:
        raise Problem(400, "Bad Request", errors=[{"field": "since", "reason": f"is after now ({format_us(latest)})"}])
    try:
        return reconcile.reconcile(db, _catalog(), since_us=since, until_us=until, account=account,
                                   tolerance=tolerance, now_us=now, clock=clock)
    except reconcile.ReconcileError as exc:
        if account is not None and accounts.get_account(get_db(), account) is None:
            raise Problem(404, "Not Found", str(exc), errors=[{"field": "account", "reason": "not linked"}]) from None
        raise Problem(400, "Bad Request", str(exc), errors=[{"field": "until", "reason": str(exc)}]) from None


WINDOW_PARAMETERS = ("period", "since", "until")


def _stored_run(kind: str | None) -> runs.StoredRun | None:
    """The stored run the request asks for: the newest one, or the newest over exactly the window (and the
    tolerance) given. None only when no run is stored at all; a window with no run is a 404 naming it."""
    given = [name for name in (*WINDOW_PARAMETERS, "tolerance") if request.args.get(name)]
    window = _window() if any(name in WINDOW_PARAMETERS for name in given) else (None, None)
    tolerance = _tolerance() if "tolerance" in given else None
    stored = runs.last_run(get_db(), since_us=window[0], until_us=window[1], tolerance=tolerance, kind=kind)
    if stored is None and given:
        field = given[0]
        raise Problem(404, "Not Found", "No stored reconcile run covers this window and tolerance: the page reads "
                                        "stored runs and never runs one over every account (give account= for a "
                                        "live check of one account, or store one with `seatsync reconcile --store` "
                                        "and the same window).", slug="no-reconcile-run",
                      errors=[{"field": field, "reason": "no stored run over it"}])
    return stored


def _sorted(report: reconcile.Report, sort: str, order: str) -> None:
    numeric = sort in ("money_at_stake", "period_start", "period_end", "expected_quantity", "actual_quantity",
                       "expected_amount", "actual_amount")
    report.differences.sort(key=lambda d: (getattr(d, sort) is None, getattr(d, sort) or 0 if numeric else str(
        getattr(d, sort) or "")), reverse=order == "desc")


@bp.get("/reconciliation")
def reconciliation():
    """The last stored run (the worker's, or ``seatsync reconcile --store``'s), or with ``account`` one account
    checked live (cheap); a full reconcile never runs inside a request (issue 11 item 2)."""
    fmt = _format()
    account = request.args.get("account") or None
    kind = request.args.get("kind") or None
    if kind is not None and kind not in reconcile.KINDS:
        raise Problem(400, "Bad Request", errors=[{"field": "kind", "reason": f"one of {sorted(reconcile.KINDS)}"}])
    sort = request.args.get("sort", "money_at_stake")
    if sort not in reconcile.COLUMNS:
        raise Problem(400, "Bad Request", errors=[{"field": "sort", "reason": f"one of {reconcile.COLUMNS}"}])
    order = request.args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise Problem(400, "Bad Request", errors=[{"field": "order", "reason": "asc or desc"}])
    run = None
    if account is not None:
        since, until = _open_window()
        report = _run(account, since, until, _tolerance())
        if kind is not None:
            report.differences = [d for d in report.differences if d.kind == kind]
    else:
        stored = _stored_run(kind)
        if stored is None:
            return _no_run_yet(fmt)
        report, run = stored.report, stored.info(now_us())
    _sorted(report, sort, order)
    if fmt == "json":
        return {**({"run": run} if run is not None else {}), **report.as_dict()}
    if fmt == "csv":
        return Response(reconcile.to_csv(report), mimetype="text/csv",
                        headers={"Content-Disposition": "inline; filename=reconciliation.csv"})
    args = {k: v for k, v in request.args.items() if k not in ("sort", "order", "format")}
    return render_template("ops/reconciliation.html", report=report, summary=report.summary(), kinds=reconcile.KINDS,
                           columns=reconcile.COLUMNS, sort=sort, order=order, args=args, kind=kind,
                           account=account, money=format_amount, when=_when, run=run, age=_age,
                           running=runs.in_progress(get_db(), now_us()),
                           reconcile_requested=store.reconcile_request(get_db()),
                           money_charts=ops_charts.money_charts(
                               report.by_account, lambda name: url_for("ops.account_page", account=name)))


NO_RUN_YET = ("No reconciliation run is stored yet. The sync worker stores one every SEATSYNC_RECONCILE_INTERVAL "
              "seconds (default hourly, the first when it starts); `seatsync reconcile --store` stores one now.")


def _no_run_yet(fmt: str):
    if fmt != "html":
        raise Problem(404, "Not Found", NO_RUN_YET, slug="no-reconcile-run")
    return render_template("ops/reconciliation.html", report=None, summary=None, kinds=reconcile.KINDS,
                           columns=reconcile.COLUMNS, sort="money_at_stake", order="desc", args={}, kind=None,
                           account=None, money=format_amount, when=_when, run=None, age=_age, no_run=NO_RUN_YET,
                           running=runs.in_progress(get_db(), now_us()),
                           reconcile_requested=store.reconcile_request(get_db()))


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _local(timezone: str):
    """An instant (µs) as the account's local time: ops people think in the customer's day (Oslo's midnight
    is when a per-day policy bills); the page keeps UTC beside it, on hover."""
    zone = ZoneInfo(timezone)

    def local(at_us: int) -> str:
        return from_us(at_us).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    return local


def _when(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _lifecycle(db, link) -> dict | None:
    """Where the subscription stands (cancelled, paused, ...) and whether seat sync holds it."""
    state = registry.lifecycle(store.mirror_row(db, "mirror_subscriptions", link.provider, link.subscription))
    if state is None:
        return None
    hold = store.sync_hold(db, link.account)
    return {"state": state.state, "effective_at": format_us(state.at_us) if state.at_us is not None else None,
            "resumes_at": format_us(state.resumes_us) if state.resumes_us is not None else None,
            "sync": "held" if hold else "syncing", "reason": hold["reason"] if hold else None}


@bp.get("/accounts/<account>")
def account_page(account: str):
    fmt = _format()
    db = get_db()
    link = accounts.get_account(db, account)
    if link is None:
        raise Problem(404, "Not Found", f"unknown account {account!r}",
                      errors=[{"field": "account", "reason": "not linked"}])
    since, asked = _open_window()
    report = _run(account, since, asked, _tolerance())
    until = report.until_us  # the window as checked: up to the account's now (its provider's clock)
    expectation = report.expectations.get(account)  # None: the report's errors say why
    expected = [] if expectation is None else (
        [line.as_dict() for line in expectation.bill.lines
         if to_us(line.billed_at) // 1_000_000 > link.linked_us // 1_000_000]
        + [{**line.as_dict(), "billed": "pending"} for line in expectation.bill.pending])
    events = []
    for row in store.timeline_product_events(db, account):
        events.append({"at_us": row["occurred_us"], "source": "product", "what": row["type"], "id": row["id"],
                       "detail": row["body"]})
    calls = store.timeline_provider_calls(db, account)
    for row in calls:
        events.append({"at_us": row["completed_us"] or row["planned_us"], "source": "seatsync call",
                       "what": f"{row['operation']}"
                               + (f" quantity={row['quantity']}" if row["quantity"] is not None else "")
                               + f" ({row['status']})",
                       "id": row["idempotency_key"], "detail": f"request {row['request_id'] or '-'}"
                       + (f"; error {row['error']}" if row["error"] else "")})
    invoices = store.recon_invoices(db, link.provider, link.subscription, -1, 2**62)
    flagged = report.flagged_lines()
    window = (since // 1_000_000, -(-until // 1_000_000))
    lines = []
    for invoice in invoices:
        checked = window[0] <= invoice["created"] < window[1] and invoice["created"] > link.linked_us // 1_000_000
        for line in store.recon_invoice_lines(db, link.provider, invoice["id"]):
            # Every line of a checked invoice either matched an expected line or carries its difference.
            verdict = flagged.get(line["id"], "matches the policy") if checked else "not checked (outside the window)"
            lines.append({**{k: line[k] for k in ("id", "invoice", "price", "description", "period_start",
                                                   "period_end", "quantity", "amount", "proration")},
                          "currency": invoice["currency"], "status": invoice["status"], "created": invoice["created"],
                          "verdict": verdict})
        total = (format_amount(invoice["total"], invoice["currency"]) if invoice["currency"] and invoice["total"]
                 is not None else invoice["total"])
        events.append({"at_us": invoice["created"] * 1_000_000, "source": "invoice",
                       "what": f"{invoice['status']} total {total}", "id": invoice["id"],
                       "detail": invoice["billing_reason"] or ""})
    object_ids = [link.subscription, *(i["id"] for i in invoices)]
    for row in store.timeline_provider_events(db, link.provider, object_ids):
        events.append({"at_us": (row["created"] or 0) * 1_000_000, "source": f"{link.provider} event",
                       "what": row["type"], "id": row["event_id"], "detail": f"{row['status']} {row['outcome'] or ''}"})
    events.sort(key=lambda e: (e["at_us"], e["source"]))
    for event in events:
        event["at"] = format_us(event["at_us"])
    data = {"account": account, "provider": link.provider, "subscription": link.subscription, "plan": link.plan,
            "linked": format_us(link.linked_us), "timeline": events, "expected_lines": expected,
            "actual_lines": lines, "lifecycle": _lifecycle(db, link),
            "price_changes": [c.as_dict() for c in price_notices.account_price_changes(db, _catalog(), link,
                                                                                        now_us())[1]],
            **report.as_dict()}
    if fmt == "json":
        return data
    if fmt == "csv":
        return Response(reconcile.to_csv(report), mimetype="text/csv")
    catalog = _catalog()
    plan = catalog.plans.get(link.plan)
    timezone = link.timezone or (plan.timezone if plan else "UTC")
    chart = ops_charts.seats_chart(db, catalog, link, since_us=since, until_us=until, now_us=now_us(),
                                   timezone=timezone, invoice_lines=lines)
    # The page shows the timeline TIMELINE_PAGE events at a time (a year of a busy account is thousands);
    # JSON keeps all of it.
    timeline_pages = max(1, -(-len(events) // TIMELINE_PAGE))
    tpage = min(_positive("tpage", 1), timeline_pages)
    shown = events[(tpage - 1) * TIMELINE_PAGE:tpage * TIMELINE_PAGE]
    return render_template("ops/account.html", data={**data, "timeline": shown}, report=report,
                           summary=report.summary(), tpage=tpage, timeline_pages=timeline_pages,
                           timeline_page_size=TIMELINE_PAGE, timeline_total=len(events),
                           money=format_amount, when=_when, kinds=reconcile.KINDS, seats_chart=chart,
                           timezone=timezone, local=_local(timezone),
                           dead_letters=store.recon_dead_letters(db, account),
                           undelivered=store.account_undelivered(db, account),
                           audit=store.ops_audit_rows(db, account=account))
