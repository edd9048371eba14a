"""Golden tests: the engine on the scripted months/years that the sandbox tests compute by hand.

tests/sandbox/tests/test_stripe_billing.py and test_chargebee_scripted.py script a
month of seat and plan changes and write the expected provider amounts in
their docstrings. Those numbers are copied here (nothing is imported from the
sandbox: agreement between two independent implementations is the evidence).
Where Chargebee's line shapes differ (it revises open unbilled charges instead
of stacking lines) the money per invoice must still agree.
"""

from __future__ import annotations

import datetime as dt

from adapter.billing.engine import bill_period, invoices
from adapter.billing.periods import Period
from adapter.billing.policy import Plan, Price

UTC = dt.UTC


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_stripe_scripted_september_with_a_plan_swap():
    """September 2020 (30 days): Team ($49 base + $10/seat) → Business ($99 + $15/seat), from the sandbox test:
      Sep 6   5→8 seats, 25/30 left:  −4166.67→−4167, +6666.67→+6667
      Sep 11 12:00 8→6, 19.5/30 left: −5200, +3900
      Sep 21 plan swap, 10/30 left:   base −1633.33→−1633, +3300; seats(6) −2000, +3000
      Sep 26  6→7 at $15, 5/30 left:  −1500, +1750
      pending sum = 4117; Oct renewal = 4117 + 9900 + 7×1500 = 24517; with −500 on the balance, due 24017."""
    def plan(id, base, seat):
        return Plan(id=id, name=id, provider="stripe", currency="USD", interval="month", timezone="UTC",
                    proration="second", increase="next_invoice", decrease="credit_next_invoice",
                    seat=Price(f"{id}_seat", seat), base_fee=Price(f"{id}_base", base))
    team, business = plan("team", 4900, 1000), plan("business", 9900, 1500)
    september = Period(utc(2020, 9, 1), utc(2020, 10, 1))
    bill = bill_period(plan=team, period=september, seats=5,
                       seat_changes=[(utc(2020, 9, 6), 8), (utc(2020, 9, 11, 12), 6), (utc(2020, 9, 26), 7)],
                       plan_changes=[(utc(2020, 9, 21), business)])
    assert [line.amount for line in bill.lines if line.proration] == [
        -4167, 6667, -5200, 3900, -1633, 3300, -2000, 3000, -1500, 1750]
    (renewal,) = invoices(bill.lines, opening_balance=500)
    assert (renewal.total, renewal.balance_applied, renewal.amount_due, renewal.balance_after) == (24517, 500, 24017, 0)
    assert [(line.amount, line.quantity) for line in renewal.lines if line.billed == "renewal"] \
        == [(9900, 1), (10500, 7)]


def test_chargebee_scripted_june_in_day_mode_agrees_on_money():
    """June 2026 (30 days), flat team plan (5000) → business (8000) + per-seat addon (1000), day mode,
    every change prorated to unbilled charges / credit notes (the sandbox's hand computation):
      Jun 7  3→5 seats: +2 × 1000 × 24/30 = +1600
      Jun 13 5→4:       −1 × 1000 × 18/30 = −600   (Chargebee revises the 1600 into 400 + 600: same money)
      Jun 19 team → business: −5000 × 12/30 = −2000, +8000 × 12/30 = +3200
      Jun 25 4→2:       −2 × 1000 × 6/30 = −400    (Chargebee: 200 credit + a revised unbilled charge)
    Jul 1 invoice: 8000 + 2 × 1000 + 1800 = 11800, the sandbox's 14000 total less 2200 credits."""
    def plan(id, base):
        return Plan(id=id, name=id, provider="chargebee", currency="USD", interval="month", timezone="UTC",
                    proration="day", increase="next_invoice", decrease="credit_next_invoice",
                    seat=Price("seat-addon-USD", 1000), base_fee=Price(f"{id}-USD", base), zero_seats="remove_item")
    team, business = plan("team", 5000), plan("business", 8000)
    june = Period(utc(2026, 6, 1), utc(2026, 7, 1))
    bill = bill_period(plan=team, period=june, seats=3,
                       seat_changes=[(utc(2026, 6, 7, 15), 5), (utc(2026, 6, 13, 15), 4), (utc(2026, 6, 25, 15), 2)],
                       plan_changes=[(utc(2026, 6, 19, 15), business)])
    assert [line.amount for line in bill.lines if line.proration] == [1600, -600, -2000, 3200, -400]
    (renewal,) = invoices(bill.lines)
    assert renewal.billed_at == utc(2026, 7, 1) and renewal.total == 11800


def test_chargebee_scripted_year_in_millisecond_mode_with_a_switch_to_yearly():
    """Pro monthly (1200/seat) → Pro yearly (12000/seat) on a millisecond-mode site, from the sandbox test:
      Jan 16 12:00 +2 seats, invoiced now: 2 × 1200 × 15.5/31 = 1200
      Feb 1 renewal: 12 × 1200 = 14400
      Feb 8 −3 seats: 3 × 1200 × 21/28 = 2700 credit → Mar 1: 10800 − 2700 = 8100
      Mar 17 switch to yearly: the term resets; credit 9 × 1200 × 15/31 = 5225.81 → 5226; a full year
        9 × 12000 = 108000 now: 102774
      Sep 17 +1 seat, unbilled: 12000 × 181/365 = 5950.68 → 5951
      Mar 17 2027 renewal: 10 × 12000 + 5951 = 125951."""
    def plan(id, amount, interval, increase):
        return Plan(id=id, name=id, provider="chargebee", currency="USD", interval=interval, timezone="UTC",
                    proration="millisecond", increase=increase, decrease="credit_next_invoice",
                    seat=Price(id, amount), zero_seats="remove_item")
    monthly = plan("pro-monthly", 1200, "month", "invoice_now")
    yearly = plan("pro-yearly", 12000, "year", "next_invoice")
    january = Period(utc(2026, 1, 1), utc(2026, 2, 1))
    bill = bill_period(plan=monthly, period=january, seats=10,
                       seat_changes=[(utc(2026, 1, 16, 12), 12), (utc(2026, 2, 8), 9), (utc(2026, 9, 17), 10)],
                       plan_changes=[(utc(2026, 3, 17), yearly)])
    assert [(invoice.billed_at, invoice.total) for invoice in invoices(bill.lines)] == [
        (utc(2026, 1, 16, 12), 1200), (utc(2026, 2, 1), 14400), (utc(2026, 3, 1), 8100),
        (utc(2026, 3, 17), 102774), (utc(2027, 3, 17), 125951)]
    assert bill.period == Period(utc(2027, 3, 17), utc(2028, 3, 17))
