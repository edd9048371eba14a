"""Merge a burst of seat changes into as few provider calls as possible, without changing the money.

A provider prorates a quantity change made at instant ``t`` as a credit for the
old quantity's unused time and a debit for the new quantity's remaining time:
the pair nets to ``(new - old) × price × (end - t) / period``. That is linear in
the quantity delta and in ``end - t``, so:

* changes in the same proration unit (the same local day for day-granular
  policies) are one change: their net delta at the start of that day;
* for per-second policies, changes inside one second are netted first; then a
  set of increases ``d_i`` at ``t_i`` nets to the
  same money as one increase ``Σ d_i`` at the seat-weighted mean instant
  ``Σ d_i·t_i / Σ d_i``; likewise for decreases. So a burst becomes at most one
  increase call and one decrease call, each with its own ``proration_date``.

Only the provider's per-line rounding can make the merged total differ from the
one-by-one total, by at most one minor unit per line. The mean instant is
rounded to a whole second (Stripe's ``proration_date`` is in seconds) with
ROUND_HALF_UP; the money that moves is at most half a second of the merged seats,
far below one minor unit for any real price (see tests/test_coalesce.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from adapter.periods import local_midnight

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SeatDelta:
    """One ledger change for a subscription: ``delta`` seats from ``instant`` on."""

    instant: datetime
    delta: int
    version: int  # which change this is (a caller's number), so a call can say which changes it merged


@dataclass(frozen=True)
class QuantityCall:
    """One provider write: set the absolute ``quantity`` as of ``proration_date``."""

    quantity: int
    proration_date: datetime
    versions: tuple[int, ...]  # the SeatDelta versions merged into this call (tracing; keys are sync's job)


def weighted_mean_instant(deltas: list[SeatDelta]) -> datetime:
    """Σ|d_i|·t_i / Σ|d_i|, rounded half-up to a whole second (all d_i of one sign)."""
    weight = sum(abs(d.delta) for d in deltas)
    total = sum(Decimal(abs(d.delta)) * _seconds(d.instant) for d in deltas)
    mean = (total / weight).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return EPOCH + timedelta(seconds=int(mean))


def _seconds(instant: datetime) -> Decimal:
    delta = instant.astimezone(timezone.utc) - EPOCH
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


def coalesce(start_quantity: int, deltas: list[SeatDelta], *, granularity: str, tz: str = "UTC") -> list[QuantityCall]:
    """The provider calls that apply ``deltas`` to a subscription now at ``start_quantity``.

    ``granularity`` is ``"day"`` (one call per local day with a non-zero net
    change, dated at that day's start) or ``"second"`` (at most one increase
    call then one decrease call, each at its seat-weighted mean instant).
    Deltas must all fall in one billing period; the caller splits at period
    boundaries. Changes that net to nothing make no call; the caller marks
    every delta it passed in as handled once the calls are done.
    """
    if not deltas:
        return []
    if granularity == "day":
        return _by_day(start_quantity, deltas, tz)
    if granularity in ("second", "millisecond"):
        return _by_direction(start_quantity, deltas)
    raise ValueError(f"unknown proration granularity {granularity!r}")


def _by_day(start_quantity: int, deltas: list[SeatDelta], tz: str) -> list[QuantityCall]:
    days: dict[datetime, list[SeatDelta]] = {}
    for delta in deltas:
        days.setdefault(local_midnight(delta.instant, tz), []).append(delta)
    calls = []
    quantity = start_quantity
    for day in sorted(days):
        net = sum(d.delta for d in days[day])
        if net == 0:
            continue
        quantity += net
        calls.append(QuantityCall(quantity, day, tuple(sorted(d.version for d in days[day]))))
    return calls


def _by_second(deltas: list[SeatDelta]) -> list[SeatDelta]:
    """Net the changes inside each whole second: a second is the proration unit of a per-second policy."""
    seconds: dict[datetime, list[SeatDelta]] = {}
    for delta in deltas:
        seconds.setdefault(delta.instant.astimezone(timezone.utc).replace(microsecond=0), []).append(delta)
    netted = []
    for second, group in sorted(seconds.items()):
        net = sum(d.delta for d in group)
        if net:
            netted.append(SeatDelta(second, net, max(d.version for d in group)))
    return netted


def _by_direction(start_quantity: int, deltas: list[SeatDelta]) -> list[QuantityCall]:
    deltas = _by_second(deltas)
    increases = [d for d in deltas if d.delta > 0]
    decreases = [d for d in deltas if d.delta < 0]
    calls = []
    quantity = start_quantity
    # Increases first so the quantity never dips below what the burst's end state needs.
    for group in (increases, decreases):
        if not group:
            continue
        quantity += sum(d.delta for d in group)
        calls.append(QuantityCall(quantity, weighted_mean_instant(group), tuple(sorted(d.version for d in group))))
    return calls

