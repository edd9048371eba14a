"""``/ops/accounts``: every account, linked or not, searchable and paged on the server (issue 14 item 3).

A page costs the names (one indexed query; never-linked accounts from the stored reconcile run) plus the sync
view of the accounts on it, not of all of them: 10,000 accounts page as fast as 10. Each row says where the
account's seat sync stands (``adapter/sync/view.py``, the same words as ``seatsync accounts list``) and its net
money at stake in the last stored run.
"""

from __future__ import annotations

from flask import render_template, request

from adapter import accounts, store
from adapter.billing.money import format_amount
from adapter.clock import now_us
from adapter.reconcile import runs
from adapter.sync.view import sync_view

from .db import get_db
from .ops import _catalog, _format, _positive, bp
from .problems import Problem

PAGE_SIZES = (25, 50, 100, 200)


@bp.get("/accounts")
def accounts_page():
    fmt = _format()
    search = (request.args.get("q") or "").strip()
    size = _positive("size", 50)
    if size not in PAGE_SIZES:
        raise Problem(400, "Bad Request", errors=[{"field": "size", "reason": f"one of {list(PAGE_SIZES)}"}])
    page = _positive("page", 1)
    db = get_db()
    run_row = store.last_reconcile_run(db)
    # The stored run's never-linked accounts; its other differences are read below for this page's accounts.
    last = runs.stored(db, run_row, kind="unlinked_seats") if run_row is not None else None
    never_linked = sorted({d.account for d in last.report.differences} if last is not None else set())
    linked, total_linked = accounts.page_of_accounts(db, search=search, limit=size, offset=(page - 1) * size)
    # Never-linked accounts are few (a typo, a missing link): listed after the linked ones, on the last pages.
    unlinked = [name for name in never_linked if search.lower() in name.lower()]
    first = (page - 1) * size
    unlinked_shown = unlinked[max(0, first - total_linked):max(0, first + size - total_linked)]
    # Money from the stored run, read for the accounts on this page only (a run may hold thousands of rows).
    shown = [link.account for link in linked] + unlinked_shown
    stored = runs.stored(db, run_row, accounts=shown) if run_row is not None and shown else None
    by_account = stored.report.by_account if stored is not None else {}
    catalog, at_us = _catalog(), now_us()
    rows = [{**sync_view(db, catalog, link, at_us), "linked": True} for link in linked]
    rows += [{"account": name, "linked": False, "provider": None, "subscription": None, "plan": None,
              "billable": None, "pushed": None, "mirror": None, "last_sync": None,
              "status": "never linked: its seats are billed by nobody"} for name in unlinked_shown]
    for row in rows:
        entry = by_account.get(row["account"], {})
        row["money_at_stake"] = entry.get("money_at_stake", {})
        row["receivables"] = entry.get("receivables", {})
    total = total_linked + len(unlinked)
    data = {"accounts": rows, "total": total, "page": page, "size": size, "q": search,
            "run": last.info(at_us) if last is not None else None}
    if fmt == "json":
        return data
    pages = max(1, -(-total // size))
    return render_template("ops/accounts.html", data=data, pages=pages, money=format_amount)
