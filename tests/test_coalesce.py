"""Coalescing never changes the money beyond the provider's per-line rounding.

The oracle here is the provider's documented proration (stripe.md §1: a
credit for the old quantity's unused time and a debit for the new quantity's
remaining time, each rounded on its own), written out independently.
"""

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.coalesce import QuantityCall, SeatDelta, coalesce, weighted_mean_instant
from adapter.periods import local_midnight as start_of_local_day

PERIOD_START = datetime(2026, 4, 1, tzinfo=timezone.utc)
PERIOD_END = datetime(2026, 5, 1, tzinfo=timezone.utc)


def prorated_lines(old: int, new: int, at: datetime, unit_amount: int) -> list[int]:
    """A credit/debit pair, each line rounded half-up on its own."""
    fraction = Decimal(int((PERIOD_END - at).total_seconds())) / Decimal(int((PERIOD_END - PERIOD_START).total_seconds()))

    def line(quantity: int) -> int:
        return int((Decimal(quantity * unit_amount) * fraction).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    return [-line(old), line(new)]


def total_one_by_one(start: int, deltas: list[SeatDelta], unit_amount: int) -> tuple[int, int]:
    quantity, total, lines = start, 0, 0
    for delta in sorted(deltas, key=lambda d: d.instant):
        pair = prorated_lines(quantity, quantity + delta.delta, delta.instant.replace(microsecond=0), unit_amount)
        total, lines, quantity = total + sum(pair), lines + 2, quantity + delta.delta
    return total, lines


def total_of_calls(start: int, calls: list[QuantityCall], unit_amount: int) -> tuple[int, int]:
    quantity, total = start, 0
    for call in calls:
        total += sum(prorated_lines(quantity, call.quantity, call.proration_date, unit_amount))
        quantity = call.quantity
    return total, 2 * len(calls)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 4, day, hour, minute, second, tzinfo=timezone.utc)


def test_a_burst_of_adds_becomes_one_call_at_the_seat_weighted_mean():
    deltas = [SeatDelta(at(10, 12), +1, 1), SeatDelta(at(10, 12, 0, 2), +3, 2)]
    calls = coalesce(5, deltas, granularity="second")
    # (1 × 12:00:00 + 3 × 12:00:02) / 4 = 12:00:01.5 → 12:00:02 (half-up)
    assert calls == [QuantityCall(9, at(10, 12, 0, 2), (1, 2))]


def test_mixed_burst_becomes_one_increase_then_one_decrease():
    deltas = [SeatDelta(at(3, 9), +2, 7), SeatDelta(at(3, 9, 0, 1), -1, 8), SeatDelta(at(3, 9, 0, 2), +1, 9)]
    calls = coalesce(4, deltas, granularity="second")
    assert [c.quantity for c in calls] == [7, 6]
    assert calls[0].versions == (7, 9) and calls[1].versions == (8,)
    assert calls[1].proration_date == at(3, 9, 0, 1)


def test_same_local_day_changes_become_one_call_at_local_midnight():
    # 23:30 UTC on April 15 is already April 16 in Oslo (UTC+2 in April).
    deltas = [SeatDelta(at(15, 23, 30), -1, 1), SeatDelta(at(16, 8), -1, 2), SeatDelta(at(17, 8), +1, 3)]
    calls = coalesce(10, deltas, granularity="day", tz="Europe/Oslo")
    oslo_16 = datetime(2026, 4, 15, 22, 0, tzinfo=timezone.utc)
    oslo_17 = datetime(2026, 4, 16, 22, 0, tzinfo=timezone.utc)
    assert calls == [QuantityCall(8, oslo_16, (1, 2)), QuantityCall(9, oslo_17, (3,))]


def test_add_and_remove_on_the_same_day_makes_no_call():
    deltas = [SeatDelta(at(5, 9), +1, 1), SeatDelta(at(5, 17), -1, 2)]
    assert coalesce(3, deltas, granularity="day", tz="UTC") == []


def test_start_of_local_day_across_dst():
    # Oslo switches to summer time on 2026-03-29: midnight is 23:00 UTC before, 22:00 UTC after.
    assert start_of_local_day(datetime(2026, 3, 28, 12, tzinfo=timezone.utc), "Europe/Oslo") == datetime(2026, 3, 27, 23, tzinfo=timezone.utc)
    assert start_of_local_day(datetime(2026, 3, 30, 12, tzinfo=timezone.utc), "Europe/Oslo") == datetime(2026, 3, 29, 22, tzinfo=timezone.utc)


def test_weighted_mean_is_exact_when_it_lands_on_a_second():
    deltas = [SeatDelta(at(1), 1, 1), SeatDelta(at(1, 0, 0, 10), 1, 2)]
    assert weighted_mean_instant(deltas) == at(1, 0, 0, 5)


burst = st.lists(
    st.tuples(st.integers(min_value=0, max_value=29 * 86400 - 1), st.sampled_from([-2, -1, 1, 1, 2, 3])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(burst=burst, start=st.integers(min_value=60, max_value=200), unit_amount=st.sampled_from([1, 500, 1000, 3252, 11000, 99999]))
def test_coalesced_money_equals_one_by_one_up_to_per_line_rounding(burst, start, unit_amount):
    deltas = [SeatDelta(PERIOD_START + timedelta(seconds=s), d, i) for i, (s, d) in enumerate(burst)]
    calls = coalesce(start, deltas, granularity="second")
    sequential, sequential_lines = total_one_by_one(start, deltas, unit_amount)
    merged, merged_lines = total_of_calls(start, calls, unit_amount)
    assert calls[-1].quantity == start + sum(d.delta for d in deltas) if calls else sum(d.delta for d in deltas) == 0
    # Each rounded line is within ½ minor unit of its exact value; the weighted
    # mean's rounding to a second moves less than ½ s of the merged seats.
    seats_moved = sum(abs(d.delta) for d in deltas)
    mean_rounding = Decimal(seats_moved * unit_amount) / Decimal(2 * 30 * 86400)
    assert abs(merged - sequential) <= Decimal(sequential_lines + merged_lines) / 2 + mean_rounding
    assert len(calls) <= 2


@settings(max_examples=200, deadline=None)
@given(burst=burst, start=st.integers(min_value=60, max_value=200))
def test_day_coalescing_keeps_the_end_quantity_and_one_call_per_changed_day(burst, start):
    deltas = [SeatDelta(PERIOD_START + timedelta(seconds=s), d, i) for i, (s, d) in enumerate(burst)]
    calls = coalesce(start, deltas, granularity="day", tz="Europe/Oslo")
    days = [c.proration_date for c in calls]
    assert days == sorted(set(days))
    end = start + sum(d.delta for d in deltas)
    assert (calls[-1].quantity if calls else start) == end
