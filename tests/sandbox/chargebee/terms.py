"""Billing terms and proration fractions, in the site's billing mode.

Times are integer unix milliseconds inside the sandbox (the API shows seconds).
A term is the half-open interval ``[start_ms, end_ms)``: ``end_ms`` is the
instant of the next renewal.

Day mode (reference chargebee.md §3, proration.html): a term starts at
00:00:00.000 and ends at 23:59:59.999 of its last day, in the site timezone,
and "proration calculations ... are done to the day": the day of a change
counts as remaining time (seed 000: a seat removed on April 16 is paid for
April 1-15, exactly half of a 30-day term). Millisecond mode: the fraction is
remaining ms / term ms.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

PERIOD_UNITS = ("day", "week", "month", "year")


def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def to_datetime(ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(_zone(tz))


def to_ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def start_of_day(ms: int, tz: str) -> int:
    local = to_datetime(ms, tz)
    return to_ms(local.replace(hour=0, minute=0, second=0, microsecond=0))


def add_period(anchor_ms: int, period: int, unit: str, count: int, tz: str) -> int:
    """``anchor + count * period unit`` on the site's calendar.

    Months and years keep the anchor's day of month, clamped to the length of
    the target month (Jan 31 + 1 month = Feb 28/29, + 2 months = Mar 31), so a
    term never drifts after a short month.
    """
    local = to_datetime(anchor_ms, tz)
    if unit == "day":
        return to_ms(_wall(local, local + timedelta(days=period * count), tz))
    if unit == "week":
        return to_ms(_wall(local, local + timedelta(weeks=period * count), tz))
    months = period * count * (12 if unit == "year" else 1)
    if unit not in ("month", "year"):
        raise ValueError(f"unknown period unit {unit!r}")
    total = local.year * 12 + (local.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return to_ms(local.replace(year=year, month=month, day=day, tzinfo=None).replace(tzinfo=_zone(tz)))


def _wall(original: datetime, shifted: datetime, tz: str) -> datetime:
    # Calendar arithmetic keeps the wall-clock time across DST changes.
    naive = shifted.replace(tzinfo=None)
    return naive.replace(hour=original.hour, minute=original.minute, second=original.second,
                         microsecond=original.microsecond).replace(tzinfo=_zone(tz))


def align_start(ms: int, billing_mode: str, tz: str) -> int:
    """Where a term (or a prorated segment) starts for a change at ``ms``."""
    return start_of_day(ms, tz) if billing_mode == "day" else ms


def days_between(start_ms: int, end_ms: int, tz: str) -> int:
    """Whole calendar days in ``[start, end)`` (both day-aligned in day mode)."""
    start = to_datetime(start_ms, tz).date()
    end = to_datetime(end_ms, tz).date()
    return (end - start).days


def fraction_of_term(seg_start_ms: int, seg_end_ms: int, term_start_ms: int, term_end_ms: int,
                     billing_mode: str, tz: str) -> Fraction:
    """Share of the term covered by ``[seg_start, seg_end)``, exactly."""
    if billing_mode == "day":
        whole = days_between(term_start_ms, term_end_ms, tz)
        part = days_between(start_of_day(seg_start_ms, tz), start_of_day(seg_end_ms, tz), tz)
        return Fraction(part, whole)
    return Fraction(seg_end_ms - seg_start_ms, term_end_ms - term_start_ms)


def shown_end(end_ms: int, billing_mode: str) -> int:
    """``current_term_end``/``date_to`` in unix seconds: day mode shows the last
    day's 23:59:59 (the term ends at .999 of it); millisecond mode the end instant."""
    return (end_ms - 1) // 1000 if billing_mode == "day" else end_ms // 1000
