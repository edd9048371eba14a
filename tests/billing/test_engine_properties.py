"""Property tests: per-line rounding never loses or invents more than the documented half unit per line."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.billing.engine import State, bill_period, change_lines, items
from adapter.billing.periods import Period, remaining_fraction
from adapter.billing.policy import Plan, Price
from adapter.providers import registry

UTC = dt.UTC
START = dt.datetime(2026, 1, 1, tzinfo=UTC)


def make_plan(provider: str, proration: str, amount: int, base: int | None, currency: str = "USD") -> Plan:
    return Plan(id="p", name="p", provider=provider, currency=currency, interval="month", timezone="UTC",
                proration=proration, increase="next_invoice", decrease="credit_next_invoice",
                seat=Price("seat", amount), base_fee=Price("base", base) if base is not None else None,
                zero_seats="allow" if provider == "stripe" else "remove_item")


modes = st.sampled_from([("stripe", "second"), ("stripe", "day"), ("chargebee", "day"), ("chargebee", "millisecond")])
months = st.integers(min_value=0, max_value=23)


def month_period(index: int) -> Period:
    year, month = divmod(index, 12)
    start = dt.datetime(2026 + year, month + 1, 1, tzinfo=UTC)
    year, month = divmod(index + 1, 12)
    return Period(start, dt.datetime(2026 + year, month + 1, 1, tzinfo=UTC))


@settings(max_examples=300, deadline=None)
@given(mode=modes, amount=st.integers(1, 10**7), seats=st.integers(0, 500), month=months,
       offset=st.floats(0, 1, allow_nan=False), micro=st.integers(0, 999_999))
def test_adding_and_removing_the_same_user_at_one_instant_nets_to_at_most_one_minor_unit(
        mode, amount, seats, month, offset, micro):
    provider, granularity = mode
    period = month_period(month)
    at = period.start + (period.end - period.start) * offset + dt.timedelta(microseconds=micro)
    at = min(at, period.end - dt.timedelta(microseconds=1))
    plan = make_plan(provider, granularity, amount, None)
    before = items(State(plan, seats), period, {}, "UTC")
    after = items(State(plan, seats + 1), period, {}, "UTC")
    style = registry.get(provider).billing
    add = change_lines(style, before, after, period=period, at=at, granularity=granularity, timezone="UTC")
    remove = change_lines(style, after, before, period=period, at=at, granularity=granularity, timezone="UTC")
    assert add and remove
    assert abs(sum(d.amount for d in add + remove)) <= 1


@settings(max_examples=100, deadline=None)
@given(mode=modes, amount=st.integers(1, 10**6), seats=st.integers(0, 50), month=months)
def test_daily_prorations_over_a_whole_term_add_up_to_the_full_price(mode, amount, seats, month):
    """One extra user for each day of the term, added at the day's start and removed at the next:
    the day-sized charges sum to exactly one full price (each removal's lines cancel the next day's
    addition's, so the sum telescopes to the first addition: price × 1), and each day's net is within
    half a minor unit per line of the exact price ÷ days."""
    provider, granularity = mode
    period = month_period(month)
    plan = make_plan(provider, granularity, amount, None)
    days = (period.end - period.start).days
    total = 0
    for day in range(days):
        start = period.start + dt.timedelta(days=day)
        points = [(start, seats + 1)]
        if day + 1 < days:
            points.append((start + dt.timedelta(days=1), seats))
        bill = bill_period(plan=plan, period=period, seats=seats, seat_changes=points, renewal=False)
        pending = bill_period(plan=plan, period=period, seats=seats, seat_changes=points)
        prorated = [line.amount for line in pending.lines if line.proration]
        assert bill.lines == ()  # all next_invoice
        day_net = sum(prorated)
        if day + 1 < days:
            assert abs(Fraction(day_net) - Fraction(amount, days)) <= Fraction(len(prorated), 2)
        total += day_net
    # The last day's user stays to the renewal, adding exactly amount/days worth; the sum still telescopes.
    assert total == amount


@settings(max_examples=200, deadline=None)
@given(mode=modes, amount=st.integers(1, 10**6), base=st.one_of(st.none(), st.integers(0, 10**6)),
       start_seats=st.integers(0, 40), month=months,
       changes=st.lists(st.tuples(st.floats(0, 0.999, allow_nan=False), st.integers(0, 40)), max_size=12))
def test_a_period_bills_the_exact_seat_time_within_half_a_unit_per_line(mode, amount, base, start_seats, month,
                                                                        changes):
    """What a period costs = its opening charge + its proration lines; that equals the exact
    Σ quantity × price × share of time, counted the provider's way, within 1/2 per line."""
    provider, granularity = mode
    period = month_period(month)
    plan = make_plan(provider, granularity, amount, base)
    span = period.end - period.start
    points = sorted((period.start + span * share, seats) for share, seats in changes)
    bill = bill_period(plan=plan, period=period, seats=start_seats, seat_changes=points)
    prorations = [line for line in bill.lines if line.proration]
    billed = start_seats * amount + (base or 0) + sum(line.amount for line in prorations)
    counting = "second" if provider == "stripe" else granularity
    exact = Fraction(start_seats * amount + (base or 0))
    current = start_seats
    for instant, seats in points:
        effective = instant
        if granularity == "day" and provider == "stripe":
            effective = dt.datetime(instant.year, instant.month, instant.day, tzinfo=UTC)
        exact += Fraction((seats - current) * amount) * remaining_fraction(period, effective, counting, "UTC")
        current = seats
    assert abs(billed - exact) <= Fraction(len(prorations), 2)


@settings(max_examples=150, deadline=None)
@given(threshold=st.integers(1, 50_000), amount=st.integers(100, 20_000), start_seats=st.integers(0, 20),
       changes=st.lists(st.tuples(st.floats(0, 0.999, allow_nan=False), st.integers(0, 30)), max_size=15))
def test_threshold_invoices_only_past_the_threshold_and_lose_nothing(threshold, amount, start_seats, changes):
    """Every threshold invoice totals strictly more than the threshold; the pending total left for the
    renewal is at most the threshold (a credit only lowers it: rounding is monotone, so a decrease's
    pair never nets positive); no proration line is dropped or billed twice."""
    from adapter.billing.engine import invoices

    plan = Plan(id="t", name="t", provider="stripe", currency="USD", interval="year", timezone="UTC",
                proration="second", increase="threshold", decrease="credit_next_invoice",
                seat=Price("seat", amount), increase_threshold=threshold)
    period = Period(START, dt.datetime(2027, 1, 1, tzinfo=UTC))
    span = period.end - period.start
    points = sorted((period.start + span * share, seats) for share, seats in changes)
    bill = bill_period(plan=plan, period=period, seats=start_seats, seat_changes=points)
    for invoice in invoices(bill.lines):
        if any(line.billed == "threshold" for line in invoice.lines):
            assert invoice.total > threshold
            assert {line.billed for line in invoice.lines} == {"threshold"}
    unbilled = bill_period(plan=plan, period=period, seats=start_seats, seat_changes=points, renewal=False)
    everything = [line for line in bill.lines if line.proration]
    assert [line for line in unbilled.lines] == [line for line in everything if line.billed == "threshold"]
    assert list(unbilled.pending) == [line for line in everything if line.billed == "next_invoice"]
    assert sum(line.amount for line in everything if line.billed == "next_invoice") <= threshold
    assert len(everything) == len(set(everything))
