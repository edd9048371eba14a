"""Stripe's billing arithmetic as pure functions (no state, no HTTP).

Rounding rule (named, tested): each proration line is ``unit_amount × quantity ×
remaining / period`` computed exactly with ``Decimal`` and rounded ONCE per line
to the minor unit with ``ROUND_HALF_UP`` on the magnitude, the sign applied
afterwards (a credit of 0.5¢ becomes −1¢). The reference (stripe.md §1) derives
per-line rounding from Stripe's PRO example (1000¢ → −166, 3252¢ → +541) but
the tie-break and whether Stripe rounds per unit or per line total are
UNVERIFIED; ties are rare at one-second resolution.

Periods follow ``billing_cycle_anchor`` by calendar month: an anchor on the 31st
bills on the last day of shorter months and on the 31st again when it exists
(reference §1 billing_cycle_anchor, BC).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

MONTHS_PER_INTERVAL = {"month": 1, "year": 12}
DAY = 86400
WEEK = 7 * DAY


def add_interval(anchor: int, interval: str, interval_count: int, periods: int) -> int:
    """Timestamp of the ``periods``-th period boundary after ``anchor``."""
    if interval == "day":
        return anchor + periods * interval_count * DAY
    if interval == "week":
        return anchor + periods * interval_count * WEEK
    months = MONTHS_PER_INTERVAL[interval] * interval_count * periods
    start = datetime.fromtimestamp(anchor, tz=timezone.utc)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def period_containing(anchor: int, interval: str, interval_count: int, at: int) -> tuple[int, int]:
    """The billing period ``[start, end)`` that contains ``at`` (at ≥ anchor)."""
    n = 0
    while add_interval(anchor, interval, interval_count, n + 1) <= at:
        n += 1
    return add_interval(anchor, interval, interval_count, n), add_interval(anchor, interval, interval_count, n + 1)


def round_minor(amount: Decimal) -> int:
    """ROUND_HALF_UP on the magnitude, sign kept (see module docstring)."""
    magnitude = abs(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(magnitude) if amount >= 0 else -int(magnitude)


def prorated_amount(unit_amount: int, quantity: int, period_start: int, period_end: int, at: int) -> int:
    """Unsigned amount for ``quantity`` units from ``at`` to ``period_end``, one rounding."""
    if not period_start <= at <= period_end or period_end <= period_start:
        raise ValueError("proration time outside the billing period")
    exact = Decimal(unit_amount) * quantity * (period_end - at) / Decimal(period_end - period_start)
    return round_minor(exact)


def proration_pair(old: tuple[int, int] | None, new: tuple[int, int] | None,
                   period_start: int, period_end: int, at: int) -> tuple[int | None, int | None]:
    """(credit, debit) for a change from ``old`` to ``new`` (unit_amount, quantity).

    Each is rounded on its own, so ``credit + debit`` can differ by ±1 from
    rounding the net (reference §1). ``None`` where there is no old/new side.
    """
    credit = -prorated_amount(old[0], old[1], period_start, period_end, at) if old else None
    debit = prorated_amount(new[0], new[1], period_start, period_end, at) if new else None
    return credit, debit


def format_date(ts: int) -> str:
    """Stripe's description date: ``01 Sep 2020``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%d %b %Y")


def quantity_label(quantity: int, product_name: str) -> str:
    # Stripe omits "1 ×" on proration descriptions for quantity 1 (reference §1).
    return product_name if quantity == 1 else f"{quantity} × {product_name}"


def apply_balance(total: int, balance: int) -> tuple[int, int]:
    """(amount_due, new_balance) when an invoice of ``total`` is finalized.

    Customer balance: negative = credit, positive = debit; it applies to the
    next finalized invoice automatically (reference §1 Credits, BAL). A negative
    invoice is never refunded: its total goes to the balance as credit.
    """
    if total < 0:
        return 0, balance + total
    if balance < 0:
        used = min(total, -balance)
        return total - used, balance + used
    return total + balance, 0
