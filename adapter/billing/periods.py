"""Billing periods and the fraction of a period left after an instant.

Periods are half-open ``[start, end)`` in aware UTC datetimes. Month and
year periods step from an anchor in the account's timezone; a day that the
month lacks is clamped to its last day (a Jan 31 anchor bills Feb 28/29,
Mar 31, Apr 30: docs/stripe.md#billing-cycle-anchor), always from
the anchor's own day, never from the previous clamped date.

Proration granularity (docs/stripe.md#proration-amounts, docs/chargebee.md#billing-modes):
- ``second``: Stripe, whole seconds between the change and the period end.
- ``millisecond``: Chargebee's default billing mode, whole milliseconds.
- ``day``: Chargebee's day-based mode: terms run from 00:00:00.000 of the first
  local day to 23:59:59.999 of the last (here: to the next local midnight,
  exclusive), and a change counts whole local days from the change day on, so
  the change day is billed at the new quantity (seed 000: a user added on a
  day pays for that day; one removed on April 16 pays April 1-15). On Stripe,
  ``day`` means the change is dated at its local midnight (``proration_date``)
  and Stripe's per-second rule does the rest.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from zoneinfo import ZoneInfo

UTC = dt.UTC
MONTHS = {"month": 1, "year": 12}


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if not self.start < self.end:
            raise ValueError(f"period start {self.start} is not before end {self.end}")

    def contains(self, instant: dt.datetime) -> bool:
        return self.start <= instant < self.end


def _add_months(local: dt.datetime, months: int, day: int) -> dt.datetime:
    total = local.year * 12 + (local.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    return local.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))


def _to_utc(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    # A wall time in a DST gap or fold resolves with fold=0 (the earlier offset); both
    # providers document nothing finer, and month anchors at 02:30 are rare.
    return wall.replace(tzinfo=zone).astimezone(UTC)


def local_midnight(instant: dt.datetime, timezone: str) -> dt.datetime:
    """00:00 local time of the day containing ``instant``, in UTC."""
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    return _to_utc(dt.datetime(local.year, local.month, local.day), zone)


def period_at(anchor: dt.datetime, interval: str, timezone: str, at: dt.datetime, *,
              day_based: bool = False) -> Period:
    """The billing period containing ``at`` for a subscription anchored at ``anchor``.

    ``day_based`` starts periods at local midnight (Chargebee day-based mode).
    """
    zone = ZoneInfo(timezone)
    start_local = anchor.astimezone(zone).replace(tzinfo=None)
    if day_based:
        start_local = start_local.replace(hour=0, minute=0, second=0, microsecond=0)
    step = MONTHS[interval]
    at_local = at.astimezone(zone).replace(tzinfo=None)
    guess = ((at_local.year - start_local.year) * 12 + at_local.month - start_local.month) // step
    for index in (guess - 1, guess, guess + 1, guess - 2, guess + 2):
        start = _to_utc(_add_months(start_local, index * step, start_local.day), zone)
        end = _to_utc(_add_months(start_local, (index + 1) * step, start_local.day), zone)
        if start <= at < end:
            return Period(start, end)
    raise ValueError(f"no {interval} period of anchor {anchor} contains {at}")  # unreachable for sane input


def period_from(start: dt.datetime, interval: str, timezone: str, *, day_based: bool = False) -> Period:
    """The first period of a subscription (or of a term reset) starting at ``start``."""
    if day_based:
        start = local_midnight(start, timezone)
    return period_at(start, interval, timezone, start)


def _local_day(instant: dt.datetime, zone: ZoneInfo) -> dt.date:
    return instant.astimezone(zone).date()


def remaining_fraction(period: Period, at: dt.datetime, granularity: str, timezone: str = "UTC") -> Fraction:
    """The share of ``period`` from ``at`` to its end, counted the way the provider counts.

    ``at`` is clamped into the period; the result is exact (a Fraction).
    """
    at = min(max(at, period.start), period.end)
    if granularity == "second":
        start, end, moment = (_seconds(x) for x in (period.start, period.end, at))
        return Fraction(end - moment, end - start)
    if granularity == "millisecond":
        start, end, moment = (_ms(x) for x in (period.start, period.end, at))
        return Fraction(end - moment, end - start)
    if granularity == "day":
        zone = ZoneInfo(timezone)
        first, last_exclusive = _local_day(period.start, zone), _local_day(period.end, zone)
        if at == period.end:
            return Fraction(0)
        return Fraction((last_exclusive - _local_day(at, zone)).days, (last_exclusive - first).days)
    raise ValueError(f"unknown proration granularity {granularity!r}")


EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(instant: dt.datetime) -> int:
    return (instant - EPOCH) // dt.timedelta(seconds=1)


def _ms(instant: dt.datetime) -> int:
    return (instant - EPOCH) // dt.timedelta(milliseconds=1)


def truncate(instant: dt.datetime, granularity: str) -> dt.datetime:
    """``instant`` as the provider records it: whole seconds (Stripe), whole ms (Chargebee)."""
    if granularity == "second":
        return instant.replace(microsecond=0)
    if granularity == "millisecond":
        return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return instant
