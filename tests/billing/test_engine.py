"""The engine's building blocks: periods, shares, money, and the rules around a change."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapter.billing.engine import BillingError, bill_period, invoices
from adapter.billing.money import exponent, format_amount, round_minor
from adapter.billing.periods import Period, local_midnight, period_at, period_from, remaining_fraction
from adapter.billing.policy import Plan, Price, load_catalog

UTC = dt.UTC
OSLO = ZoneInfo("Europe/Oslo")
PLANS = load_catalog(Path(__file__).resolve().parents[2] / "mappings").plans


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- money ---------------------------------------------------------------------------------


def test_round_minor_names_its_rule():
    assert [round_minor(Fraction(n, 2)) for n in (1, 3, -1, -3)] == [1, 2, -1, -2]  # ROUND_HALF_UP
    assert [round_minor(Fraction(n, 2), ROUND_HALF_EVEN) for n in (1, 3, -1, -3)] == [0, 2, 0, -2]
    assert round_minor(Fraction(66667, 100)) == 667 and round_minor(Fraction(-66666, 100)) == -667
    # A value a hair below a tie is not a tie, however large the denominator.
    assert round_minor(Fraction(10**30 - 1, 2 * 10**30)) == 0


def test_minor_units_and_formatting():
    assert [exponent(c) for c in ("USD", "JPY", "KWD", "NOK", "CLF")] == [2, 0, 3, 2, 4]
    assert format_amount(-3000, "USD") == "-30.00 USD"
    assert format_amount(1500, "JPY") == "1500 JPY"
    assert format_amount(1234, "KWD") == "1.234 KWD"
    assert format_amount(5, "EUR") == "0.05 EUR"


# --- periods -------------------------------------------------------------------------------


def test_month_end_anchor_clamps_from_the_anchor_day_not_the_previous_period():
    anchor = utc(2026, 1, 31, 9)
    starts = [period_at(anchor, "month", "UTC", utc(2026, m, 15) if m > 1 else utc(2026, 2, 10)).start
              for m in (1, 3, 4, 5)]
    # The Feb 10 instant falls in Jan 31 → Feb 28; Mar 15 in Feb 28 → Mar 31; Apr 15 in Mar 31 → Apr 30.
    assert starts == [utc(2026, 1, 31, 9), utc(2026, 2, 28, 9), utc(2026, 3, 31, 9), utc(2026, 4, 30, 9)]
    assert period_at(anchor, "month", "UTC", utc(2026, 3, 31, 9)).end == utc(2026, 4, 30, 9)
    leap = period_at(utc(2024, 2, 29), "year", "UTC", utc(2025, 6, 1))
    assert (leap.start, leap.end) == (utc(2025, 2, 28), utc(2026, 2, 28))


def test_periods_step_in_local_time_across_dst():
    """Oslo clocks go forward on 2026-03-29: the March period is 743 hours, April 720, both local midnights."""
    anchor = dt.datetime(2026, 1, 1, tzinfo=OSLO)
    march = period_at(anchor, "month", "Europe/Oslo", utc(2026, 3, 15))
    assert march.start == dt.datetime(2026, 3, 1, tzinfo=OSLO) and march.end == dt.datetime(2026, 4, 1, tzinfo=OSLO)
    assert (march.end - march.start) == dt.timedelta(hours=743)
    day = period_from(utc(2026, 4, 10, 23, 30), "month", "Europe/Oslo", day_based=True)
    assert day.start == dt.datetime(2026, 4, 11, tzinfo=OSLO) and day.end == dt.datetime(2026, 5, 11, tzinfo=OSLO)


def test_remaining_fraction_per_granularity():
    april = Period(utc(2026, 4, 1), utc(2026, 5, 1))
    assert remaining_fraction(april, utc(2026, 4, 16), "second") == Fraction(1, 2)
    assert remaining_fraction(april, utc(2026, 4, 16, 0, 0, 0, 999_999), "second") == Fraction(1, 2)  # whole seconds
    assert remaining_fraction(april, utc(2026, 4, 16, 0, 0, 0, 1500), "millisecond") \
        == Fraction(1_295_999_999, 2_592_000_000)
    assert remaining_fraction(april, utc(2026, 4, 16, 23, 59), "day") == Fraction(15, 30)
    assert remaining_fraction(april, utc(2026, 3, 1), "day") == 1  # clamped into the period
    assert remaining_fraction(april, april.end, "day") == 0
    assert local_midnight(utc(2026, 4, 15, 23, 30), "Europe/Oslo") == utc(2026, 4, 15, 22)


def test_a_period_must_be_aware_and_forward():
    with pytest.raises(ValueError):
        Period(dt.datetime(2026, 4, 1), dt.datetime(2026, 5, 1))
    with pytest.raises(ValueError):
        Period(utc(2026, 5, 1), utc(2026, 4, 1))


# --- rules around a change ---------------------------------------------------------------


APRIL = Period(utc(2026, 4, 1), utc(2026, 5, 1))


def test_monthly_to_annual_resets_the_term_and_bills_now():
    """Standard monthly → annual on Apr 16 (half left), 10 users: credits −500 base and −2500 seats;
    the year Apr 16 2026 → Apr 16 2027 in full: 11000 + 10 × 5500 = 66000; all billed now (63000);
    the next renewal is 2027-04-16."""
    bill = bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=10,
                       plan_changes=[(utc(2026, 4, 16), PLANS["standard-annual"])])
    now, renewal = invoices(bill.lines)
    assert [(line.kind, line.amount) for line in now.lines] == [
        ("proration_credit", -500), ("proration_credit", -2500), ("base_fee", 11000), ("seats", 55000)]
    assert now.billed_at == utc(2026, 4, 16) and now.total == 63000
    assert renewal.billed_at == utc(2027, 4, 16) and renewal.total == 66000
    assert bill.period == Period(utc(2027, 4, 16), utc(2028, 4, 16))


def test_annual_to_monthly_in_chargebee_day_mode_starts_the_new_term_at_local_midnight():
    """Konfidens Pro annual (NOK 6600.00, year from 2026-01-01 Oslo, 365 days) → monthly on 2026-04-16 15:00 Oslo,
    2 users: credit −2 × 660000 × 260/365 = −940273.97 → −940274; charge 2 × 60000 = 120000 for
    Apr 16 → May 16 (Oslo midnights)."""
    year = Period(dt.datetime(2026, 1, 1, tzinfo=OSLO), dt.datetime(2027, 1, 1, tzinfo=OSLO))
    at = dt.datetime(2026, 4, 16, 15, tzinfo=OSLO)
    bill = bill_period(plan=PLANS["konfidens-pro-annual"], period=year, seats=2,
                       plan_changes=[(at, PLANS["konfidens-pro-monthly"])], renewal=False)
    credit, charge = bill.lines
    assert (credit.amount, credit.billed, charge.amount, charge.billed) == (-940274, "now", 120000, "now")
    assert (charge.period_start, charge.period_end) == (dt.datetime(2026, 4, 16, tzinfo=OSLO),
                                                       dt.datetime(2026, 5, 16, tzinfo=OSLO))


def test_minimum_and_included_seats_shape_the_billed_quantity():
    """minimum 3, included 2: billable = max(users, 3) − 2.
    Apr 10, 1 → 3 users: 1 → 1 billable, no line. Apr 16 (half left), 3 → 5 users: 1 → 3 billable:
    credit −1 × 1000 / 2 = −500, debit +3 × 1000 / 2 = +1500. Renewal: 3 × 1000."""
    plan = Plan(id="m", name="m", provider="stripe", currency="USD", interval="month", timezone="UTC",
                proration="second", increase="next_invoice", decrease="credit_next_invoice",
                seat=Price("price_m", 1000), minimum_seats=3, included_seats=2)
    bill = bill_period(plan=plan, period=APRIL, seats=1, seat_changes=[(utc(2026, 4, 10), 3), (utc(2026, 4, 16), 5)])
    assert bill.by_change(utc(2026, 4, 10)) == []
    assert [(line.quantity, line.amount) for line in bill.by_change(utc(2026, 4, 16))] == [(1, -500), (3, 1500)]
    assert (bill.lines[-1].quantity, bill.lines[-1].amount) == (3, 3000)


def test_zero_seats_remove_item_credits_the_last_seat_in_chargebee():
    plan = Plan(id="z", name="z", provider="chargebee", currency="EUR", interval="month", timezone="UTC",
                proration="day", increase="next_invoice", decrease="credit_next_invoice",
                seat=Price("z-EUR", 3000), minimum_seats=1, zero_seats="remove_item")
    bill = bill_period(plan=plan, period=APRIL, seats=1, seat_changes=[(utc(2026, 4, 21), 0)])
    assert [(line.kind, line.quantity, line.amount) for line in bill.lines] == [("proration_credit", 1, -1000)]
    held = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL, seats=1, timezone="UTC",
                       seat_changes=[(utc(2026, 4, 21), 0)])
    assert [(line.kind, line.quantity) for line in held.lines] == [("seats", 1)]  # hold_minimum: nothing credited


def test_changes_past_the_period_end_renew_first_and_same_instant_changes_are_one_update():
    bill = bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=10,
                       seat_changes=[(utc(2026, 5, 16), 11), (utc(2026, 4, 10), 12), (utc(2026, 4, 10), 12)])
    renewals = [line for line in bill.lines if line.billed == "renewal"]
    assert [line.billed_at for line in renewals] == [utc(2026, 5, 1)] * 2 + [utc(2026, 6, 1)] * 2
    # May has 31 days; May 16 leaves 16/31: 12 → 11 credit −12 × 500 × 16/31 = −3096.77 → −3097,
    # debit 11 × … = 2838.71 → 2839
    assert [line.amount for line in bill.by_change(utc(2026, 5, 16))] == [-3097, 2839]
    assert len(bill.by_change(utc(2026, 4, 10))) == 2


def test_bad_inputs_raise_billing_errors():
    with pytest.raises(BillingError, match="before the period start"):
        bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=1, seat_changes=[(utc(2026, 3, 1), 2)])
    with pytest.raises(BillingError, match="unknown addon"):
        bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=1, addon_changes=[(utc(2026, 4, 2), ["x"])])
    with pytest.raises(BillingError, match="changes currency"):
        bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=1,
                    plan_changes=[(utc(2026, 4, 2), PLANS["konfidens-pro-monthly"])])
    with pytest.raises(BillingError, match="cannot prorate by 'millisecond'"):
        bill_period(plan=PLANS["standard-monthly"], period=APRIL, seats=1, granularity="millisecond",
                    seat_changes=[(utc(2026, 4, 2), 2)])


def test_stripe_day_granularity_dates_the_change_at_local_midnight():
    """Stripe with proration = "day": proration_date = local midnight, then per-second: Apr 16 00:00 UTC → 1/2."""
    from dataclasses import replace
    daily = replace(PLANS["standard-monthly"], proration="day")
    bill = bill_period(plan=daily, period=APRIL, seats=10, seat_changes=[(utc(2026, 4, 16, 17, 45), 11)])
    credit, debit = bill.by_change(utc(2026, 4, 16, 17, 45))
    assert (credit.amount, debit.amount, credit.period_start) == (-2500, 2750, utc(2026, 4, 16))


def test_addon_proration_rules_full_term_and_none():
    """A flat NOK 99.00 addon added on April 21 (10 of 30 days left, Chargebee day mode, UTC):
    partial_term +3300, full_term +9900 (the whole term), none: no line; the renewal bills it either way."""
    from dataclasses import replace

    from adapter.billing.policy import Addon

    pro = replace(PLANS["konfidens-pro-monthly"], addons=("x",))
    for rule, expected in (("partial_term", [3300]), ("full_term", [9900]), ("none", [])):
        addon = Addon("x", "X", "chargebee", "NOK", "month", "flat_fee", rule, Price("x-NOK", 9900))
        bill = bill_period(plan=pro, period=APRIL, seats=2, timezone="UTC", addons={"x": addon},
                           addon_changes=[(utc(2026, 4, 21, 12), ["x"])])
        assert [line.amount for line in bill.by_change(utc(2026, 4, 21, 12))] == expected, rule
        assert sorted(line.amount for line in bill.lines if line.billed == "renewal") == [9900, 120000]
