"""Reconciliation: every seat count and every invoice line explained by the policy, or flagged.

Two checks per linked account:

1. Seat drift, three ways: the product's truth (the ledger, snapshots
   included: billable seats under the plan's minimum rules), seatsync's
   desired quantity (``sync_state.last_set_quantity``) and the provider's
   quantity (the mirror, or the provider's API with ``live``). A disagreement
   while the account is still waiting for the worker is in flight, not a
   difference; a dead letter is reported as ``never_synced``.
2. Invoice lines: the engine's expected lines (``adapter.expected``) billed in
   the window against the mirror's lines of invoices created in it (and, for
   Chargebee, credit-note lines: Chargebee writes credits as credit notes,
   docs/chargebee.md#credit-notes), matched on (price, period from/to, quantity,
   credit or debit). Matched lines must agree on amount within ``tolerance``
   minor units (default 1: each provider rounds each line on its own, and
   their tie-breaks are unverified, see adapter/money.py).

Leftovers are classified (``KINDS``), then the leftover lines of one root cause
become one difference (``causes``): ``money_at_stake`` is |billed − expected| over
the lines a difference stands for, in minor units of the account's currency,
each line counted once.
Nothing here writes, except ``fix`` which only makes drifted accounts due for
the sync worker: invoices are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from adapter import accounts, store
from adapter import clock as clock_
from adapter.billing.expected import ExpectationError
from adapter.billing.policy import Catalog
from adapter.clock import to_us
from adapter.reconcile.clocks import ProviderClock, provider_clocks
from adapter.reconcile.differences import DEFAULT_TOLERANCE, KINDS, Difference, LiveReader, ReconcileError, Report
from adapter.reconcile.lines import _account
from adapter.reconcile.render import COLUMNS, render_table, rows, to_csv
from adapter.reconcile.seats import mirror_quantity, seat_check, seat_prices
from adapter.reconcile.unlinked import unlinked_differences

__all__ = ["COLUMNS", "DEFAULT_TOLERANCE", "KINDS", "Difference", "ProviderClock", "ReconcileError", "Report",
           "account_now", "fix", "latest_now", "mirror_quantity", "month_window", "provider_clocks", "reconcile",
           "render_table", "rows", "seat_check", "seat_prices", "to_csv"]


MAX_US = 253402300799 * 1_000_000  # 9999-12-31T23:59:59Z: a window with no end given


def month_window(period: str) -> tuple[int, int]:
    """``YYYY-MM`` → the UTC calendar month as ``[start_us, end_us)``; ``ValueError`` when it is not one."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    if start.year > 9998:  # the month after December 9999 is not a datetime
        raise ValueError("year out of range")
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return to_us(start), to_us(end)


def account_now(link: accounts.Account, now_us: int, clock: ProviderClock | None) -> int:
    """The account's now: its provider's clock when it has one of its own (never before the link: nothing of
    the account is billed before it), else ``now_us`` (``clocks.py``)."""
    provider_now = clock(link) if clock is not None else None
    return now_us if provider_now is None else max(provider_now, link.linked_us)


def latest_now(db: sqlite_utils.Database, *, now_us: int, clock: ProviderClock | None,
               account: str | None = None) -> int:
    """The latest now among the accounts a run checks (``account``'s, or every linked one's); ``now_us`` when
    none is linked: where a window with no end ends."""
    links = accounts.all_accounts(db) if account is None else [
        link for link in [accounts.get_account(db, account)] if link is not None]
    return max((account_now(link, now_us, clock) for link in links), default=now_us)


def reconcile(db: sqlite_utils.Database, catalog: Catalog, *, since_us: int, until_us: int | None,
              account: str | None = None, tolerance: int = DEFAULT_TOLERANCE, now_us: int | None = None,
              live: LiveReader | None = None, on_account: Callable[[Report], None] | None = None,
              clock: ProviderClock | None = None) -> Report:
    """Check every linked account (or one) for lines billed in ``[since_us, until_us)`` and seat drift now.

    Now is ``now_us`` (default: the wall clock), or per account its provider's clock when ``clock`` tells it
    (``clocks.py``: a test clock may be ahead of ours). Each account's window ends at its now, whatever
    ``until_us`` says (``None``: no end given), and its drift is checked at its now; the report's
    ``until_us`` is the latest of them.

    ``on_account`` is called with the report after the unlinked accounts and after each linked account: a
    caller that stores a run takes the differences out as they are found (``adapter/reconcile/runs.py``).
    """
    if until_us is not None and until_us <= since_us:
        raise ReconcileError("the window is empty: --until must be after --since")
    if tolerance < 0:
        raise ReconcileError("--tolerance must be 0 or more minor units")
    now_us = clock_.now_us() if now_us is None else now_us
    unlinked = unlinked_differences(db, catalog, now_us, account=account)
    if account is not None:
        link = accounts.get_account(db, account)
        if link is None and not unlinked:
            raise ReconcileError(f"unknown account {account!r}")
        links = [link] if link is not None else []
    else:
        links = accounts.all_accounts(db)
    end_us = until_us if until_us is not None else MAX_US

    def window_end(at_us: int) -> int:
        return min(end_us, max(at_us, since_us + 1))

    # A full run over thousands of accounts must not hold every account's bill (issue 11); one account's is
    # small and is what callers inspecting a single account (tests, ``accounts show``) want.
    report = Report(since_us, window_end(now_us), keep_expectations=len(links) == 1)
    report.differences.extend(unlinked)
    if on_account is not None:
        on_account(report)
    latest = None
    for link in links:
        report.accounts += 1
        at_us = account_now(link, now_us, clock)
        latest = at_us if latest is None else max(latest, at_us)
        try:
            _account(db, catalog, link, report, until_us=window_end(at_us), tolerance=tolerance, now_us=at_us,
                     live=live)
        except ExpectationError as exc:
            report.errors.append(str(exc))
        if on_account is not None:
            on_account(report)
    if latest is not None:
        report.until_us = window_end(latest)
    return report


# ------------------------------------------------------------------------ fix


def fix(db: sqlite_utils.Database, report: Report, *, now_us: int | None = None) -> list[str]:
    """Make every account with seat drift or a dead letter due for the worker; return them. Invoices: never."""
    now_us = clock_.now_us() if now_us is None else now_us
    due = sorted({d.account for d in report.differences if d.kind in ("seat_drift", "never_synced")})
    return [account for account in due if store.make_account_due(db, account, now_us)]
