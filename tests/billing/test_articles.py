"""Golden tests: each seed article's worked example, billed by the shipped mappings.

Every expected number is computed by hand in the docstring; none is read
back from the engine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapter.billing.engine import bill_period, invoices
from adapter.billing.periods import Period
from adapter.billing.policy import load_catalog

UTC = dt.UTC
OSLO = ZoneInfo("Europe/Oslo")
CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "mappings")
PLANS = CATALOG.plans


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def oslo(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(UTC)


APRIL_UTC = Period(utc(2026, 4, 1), utc(2026, 5, 1))  # 30 days = 2,592,000 s
APRIL_OSLO = Period(oslo(2026, 4, 1), oslo(2026, 5, 1))


def summary(lines):
    return [(line.kind, line.item, line.quantity, line.unit_amount, line.amount, line.billed) for line in lines]


# --- 001 ---------------------------------------------------------------------------------


def test_001_standard_to_premium_at_exactly_half_is_plus_35_dollars_from_four_lines():
    """10 users: Standard $60 = $10 base + 10 × $5; Premium $130 = $30 base + 10 × $10.

    Period 2026-04-01 → 2026-05-01 UTC (2,592,000 s); change at 2026-04-16 00:00 = 1,296,000 s left = 1/2.
    Stripe writes a credit/debit pair per item:
      base  credit −1000 × 1/2 = −500      debit +3000 × 1/2 = +1500
      seats credit −10 × 500 × 1/2 = −2500  debit +10 × 1000 × 1/2 = +5000
    Unused Standard = −$30.00, remaining Premium = +$65.00, net +$35.00, on the next invoice
    (monthly: increase = next_invoice), together with the May renewal on Premium: $130.00.
    """
    bill = bill_period(plan=PLANS["standard-monthly"], period=APRIL_UTC, seats=10,
                       plan_changes=[(utc(2026, 4, 16), PLANS["premium-monthly"])])
    change = bill.by_change(utc(2026, 4, 16))
    assert summary(change) == [
        ("proration_credit", "base_fee", 1, 1000, -500, "next_invoice"),
        ("proration_debit", "base_fee", 1, 3000, 1500, "next_invoice"),
        ("proration_credit", "seat", 10, 500, -2500, "next_invoice"),
        ("proration_debit", "seat", 10, 1000, 5000, "next_invoice"),
    ]
    assert sum(line.amount for line in change) == 3500
    assert sum(line.amount for line in change if line.amount < 0) == -3000
    assert sum(line.amount for line in change if line.amount > 0) == 6500
    assert {line.price_id for line in change} == {
        "price_standard_base_monthly", "price_premium_base_monthly",
        "price_standard_seat_monthly", "price_premium_seat_monthly"}
    assert all((line.period_start, line.period_end) == (utc(2026, 4, 16), utc(2026, 5, 1)) for line in change)
    assert change[2].description == "Unused time on 10 × Standard (monthly) seat after 16 Apr 2026"
    (renewal_invoice,) = invoices(bill.lines)
    assert renewal_invoice.billed_at == utc(2026, 5, 1)
    assert renewal_invoice.total == 3500 + 13000


def test_001_monthly_addition_goes_on_the_next_invoice_and_annual_addition_is_charged_now():
    """Monthly Standard, 10 → 11 users at half: pair −10 × 500/2 = −2500, +11 × 500/2 = +2750 → +$2.50 next invoice.

    Annual Standard ($55/user/year), 10 → 12 users with 73 of 365 days left (2026-10-20 → 2027-01-01):
    credit −10 × 5500 × 73/365 = −11000, debit +12 × 5500 × 73/365 = +13200 → +$22.00 charged immediately.
    """
    monthly = bill_period(plan=PLANS["standard-monthly"], period=APRIL_UTC, seats=10,
                          seat_changes=[(utc(2026, 4, 16), 11)], renewal=False)
    assert summary(monthly.lines) == []  # pending until the renewal closes the period
    assert summary(monthly.pending) == [("proration_credit", "seat", 10, 500, -2500, "next_invoice"),
                                        ("proration_debit", "seat", 11, 500, 2750, "next_invoice")]
    assert {line.billed_at for line in monthly.pending} == {utc(2026, 5, 1)}
    monthly = bill_period(plan=PLANS["standard-monthly"], period=APRIL_UTC, seats=10,
                          seat_changes=[(utc(2026, 4, 16), 11)])
    assert summary(monthly.by_change(utc(2026, 4, 16))) == [
        ("proration_credit", "seat", 10, 500, -2500, "next_invoice"),
        ("proration_debit", "seat", 11, 500, 2750, "next_invoice")]

    year = Period(utc(2026, 1, 1), utc(2027, 1, 1))
    annual = bill_period(plan=PLANS["standard-annual"], period=year, seats=10,
                         seat_changes=[(utc(2026, 10, 20), 12)], renewal=False)
    assert summary(annual.lines) == [
        ("proration_credit", "seat", 10, 5500, -11000, "now"),
        ("proration_debit", "seat", 12, 5500, 13200, "now")]
    assert {line.billed_at for line in annual.lines} == {utc(2026, 10, 20)}


def test_001_deactivation_credit_is_used_by_a_later_addition_never_refunded():
    """Annual Premium ($110/user/year), 10 users, year 2026 (365 days).

    2026-10-20 (73 days left), 10 → 9: credit −10 × 11000 × 73/365 = −22000, debit +9 × 11000 × 73/365 = +19800
      → −$22.00, pending (credit_next_invoice): no refund, no invoice.
    2026-11-19 (43 days left), 9 → 10: credit −9 × 11000 × 43/365 = −11663.01 → −11663,
      debit +10 × 11000 × 43/365 = 12958.90 → +12959: +$12.96, charged now with the pending −$22.00:
      that invoice totals −904 (−2200 + 1296) → nothing due, 904 carried as credit to the renewal.
    """
    year = Period(utc(2026, 1, 1), utc(2027, 1, 1))
    bill = bill_period(plan=PLANS["premium-annual"], period=year, seats=10,
                       seat_changes=[(utc(2026, 10, 20), 9), (utc(2026, 11, 19), 10)])
    assert [line.amount for line in bill.lines if line.proration] == [-22000, 19800, -11663, 12959]
    now_invoice, renewal = invoices(bill.lines)
    assert now_invoice.billed_at == utc(2026, 11, 19)
    assert (now_invoice.total, now_invoice.amount_due, now_invoice.balance_after) == (-904, 0, 904)
    # Renewal: $330 base + 10 × $110 = $1430.00, less the carried $9.04.
    assert (renewal.total, renewal.balance_applied, renewal.amount_due) == (143000, 904, 142096)


# --- 000 ---------------------------------------------------------------------------------


def test_000_deactivation_on_april_16_pays_april_1_to_15():
    """Konfidens Pro, Chargebee day-based in Europe/Oslo, NOK 600.00 per user per month.

    April has 30 days; a deactivation on April 16 (14:00 Oslo) leaves April 16-30 = 15 days unused:
    one Chargebee credit line −1 × 60000 × 15/30 = −30000 on the next invoice. The user has then
    paid 60000 − 30000 = 30000 = half the monthly price, for April 1-15, and nothing in May.
    """
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_OSLO, seats=3,
                       seat_changes=[(oslo(2026, 4, 16, 14), 2)])
    (credit,) = bill.by_change(oslo(2026, 4, 16, 14))
    assert summary([credit]) == [("proration_credit", "seat", 1, 60000, -30000, "next_invoice")]
    assert (credit.period_start, credit.period_end) == (oslo(2026, 4, 16), oslo(2026, 5, 1))
    assert credit.description == "Konfidens Pro (monthly) seat - Prorated Credits for 16-Apr-2026 - 30-Apr-2026"
    assert credit.billed_at == oslo(2026, 5, 1)
    renewal = [line for line in bill.lines if line.billed == "renewal"]
    assert summary(renewal) == [("seats", "seat", 2, 60000, 120000, "renewal")]


def test_000_day_is_the_oslo_day_not_the_utc_day():
    """2026-04-15 23:30 UTC is 2026-04-16 01:30 in Oslo (CEST, UTC+2): still April 16, 15 days, −30000.

    Counted in UTC it would be April 15: 16 days, −32000. The account timezone can be overridden:
    with timezone="UTC" and a UTC period the same instant bills 16/30.
    """
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_OSLO, seats=3,
                       seat_changes=[(utc(2026, 4, 15, 23, 30), 2)], renewal=False)
    assert bill.lines == ()
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_OSLO, seats=3,
                       seat_changes=[(utc(2026, 4, 15, 23, 30), 2)])
    assert bill.by_change(utc(2026, 4, 15, 23, 30))[0].amount == -30000
    in_utc = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_UTC, seats=3, timezone="UTC",
                         seat_changes=[(utc(2026, 4, 15, 23, 30), 2)])
    assert in_utc.by_change(utc(2026, 4, 15, 23, 30))[0].amount == -32000


def test_000_user_added_halfway_is_charged_an_extra_half_month_at_the_next_withdrawal():
    """Accepting on April 16 pays April 16-30: +1 × 60000 × 15/30 = +30000, billed at the May 1 renewal."""
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_OSLO, seats=3,
                       seat_changes=[(oslo(2026, 4, 16, 9, 15), 4)])
    assert summary(bill.by_change(oslo(2026, 4, 16, 9, 15))) == [
        ("proration_debit", "seat", 1, 60000, 30000, "next_invoice")]
    (invoice,) = invoices(bill.lines)
    assert invoice.billed_at == oslo(2026, 5, 1) and invoice.total == 30000 + 4 * 60000


def test_000_announced_price_change_applies_from_the_first_period_on_or_after_its_date():
    """Pro seat NOK 600.00 until 2027-06-30, NOK 649.00 from 2027-07-01 (mappings/konfidens.toml).

    June 2027 prorations use 60000; the July 1 renewal bills 2 × 64900 = 129800 on the new price id.
    """
    june = Period(oslo(2027, 6, 1), oslo(2027, 7, 1))
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=june, seats=1,
                       seat_changes=[(oslo(2027, 6, 16), 2)])
    debit, renewal = bill.lines
    assert (debit.unit_amount, debit.amount) == (60000, 30000)  # 15 of 30 days
    assert (renewal.price_id, renewal.unit_amount, renewal.amount) == ("konfidens-pro-NOK-monthly-2027", 64900, 129800)


def test_000_solo_to_pro_upgrade_is_a_credit_and_a_charge_in_chargebee():
    """Solo NOK 399.00 → Pro NOK 600.00 on April 21 (10 of 30 days left), 1 user:
    credit −39900 × 10/30 = −13300, charge +60000 × 10/30 = +20000 (a price change, so two lines)."""
    bill = bill_period(plan=PLANS["konfidens-solo-monthly"], period=APRIL_OSLO, seats=1,
                       plan_changes=[(oslo(2026, 4, 21, 10), PLANS["konfidens-pro-monthly"])])
    assert summary(bill.by_change(oslo(2026, 4, 21, 10))) == [
        ("proration_credit", "seat", 1, 39900, -13300, "next_invoice"),
        ("proration_debit", "seat", 1, 60000, 20000, "next_invoice")]


def test_000_addons_prorate_per_their_pricing():
    """Pro with 4 users adds SMS (flat NOK 99.00) and journal export (NOK 29.00 per user) on April 16:
    +9900 × 15/30 = +4950 and +4 × 2900 × 15/30 = +5800. The May renewal bills 4 × 60000 + 9900 + 4 × 2900."""
    bill = bill_period(plan=PLANS["konfidens-pro-monthly"], period=APRIL_OSLO, seats=4, addons=CATALOG.addons,
                       addon_changes=[(oslo(2026, 4, 16),
                                       ["konfidens-sms-monthly", "konfidens-journal-export-monthly"])])
    assert summary(bill.by_change(oslo(2026, 4, 16))) == [
        ("proration_debit", "addon:konfidens-journal-export-monthly", 4, 2900, 5800, "next_invoice"),
        ("proration_debit", "addon:konfidens-sms-monthly", 1, 9900, 4950, "next_invoice")]
    renewal = [line.amount for line in bill.lines if line.billed == "renewal"]
    assert sorted(renewal) == sorted([240000, 9900, 11600])


# --- 002 ---------------------------------------------------------------------------------


def test_002_monthly_has_no_proration_renewal_bills_users_active_at_renewal():
    """Team monthly ($10/user): 5 users, +3 on April 10, −1 on April 20 → no lines mid-period;
    the May 1 renewal bills the 7 users active then: 7 × 1000 = 7000."""
    bill = bill_period(plan=PLANS["team-monthly"], period=APRIL_UTC, seats=5,
                       seat_changes=[(utc(2026, 4, 10), 8), (utc(2026, 4, 20), 7)])
    assert summary(bill.lines) == [("seats", "seat", 7, 1000, 7000, "renewal")]


THRESHOLD_YEAR = Period(utc(2026, 1, 1), utc(2027, 1, 1))  # 365 days
THRESHOLD_CHANGES = [(utc(2026, 7, 2), 11), (utc(2026, 8, 1), 12), (utc(2026, 9, 1), 14), (utc(2026, 10, 1), 15)]


def test_002_annual_additions_are_invoiced_once_they_pass_150_dollars():
    """Team annual, $100/user/year (10000¢), 10 users, year 2026 (365 days); Stripe pairs, each rounded:

    Jul 2  (183 days left) 10→11: −10×10000×183/365 = −50136.99 → −50137; +11×…= 55150.68 → +55151; net  5014
    Aug 1  (153 days left) 11→12: −11×10000×153/365 = −46109.59 → −46110; +12×…= 50301.37 → +50301; net  4191
    Sep 1  (122 days left) 12→14: −12×10000×122/365 = −40109.59 → −40110; +14×…= 46794.52 → +46795; net  6685
    Accumulated: 5014 → 9205 → 15890 > 15000: the Sep 1 change triggers a threshold invoice of 15890
    holding all six lines. Gathering starts again:
    Oct 1  (92 days left)  14→15: −14×10000×92/365 = −35287.67 → −35288; +15×…= 37808.22 → +37808; net  2520
    which stays pending until the renewal on 2027-01-01 (15 × 10000 = 150000): that invoice = 152520.
    """
    bill = bill_period(plan=PLANS["team-annual"], period=THRESHOLD_YEAR, seats=10, seat_changes=THRESHOLD_CHANGES)
    prorations = [line for line in bill.lines if line.proration]
    assert [line.amount for line in prorations] == [-50137, 55151, -46110, 50301, -40110, 46795, -35288, 37808]
    assert [line.billed for line in prorations] == ["threshold"] * 6 + ["next_invoice"] * 2
    threshold, renewal = invoices(bill.lines)
    assert (threshold.billed_at, threshold.total) == (utc(2026, 9, 1), 15890)
    assert (renewal.billed_at, renewal.total) == (utc(2027, 1, 1), 152520)


@pytest.mark.parametrize("threshold, first_invoice_at", [(9204, utc(2026, 8, 1)), (9205, utc(2026, 9, 1))])
def test_002_threshold_is_strictly_greater(threshold, first_invoice_at):
    """After Aug 1 exactly 9205 is pending: a 9204 threshold invoices then; a 9205 one waits ("surpasses")."""
    from dataclasses import replace
    plan = replace(PLANS["team-annual"], increase_threshold=threshold)
    bill = bill_period(plan=plan, period=THRESHOLD_YEAR, seats=10, seat_changes=THRESHOLD_CHANGES)
    assert invoices(bill.lines)[0].billed_at == first_invoice_at


def test_002_annual_removal_is_a_credit_on_the_next_invoice():
    """Team annual 10 → 9 on Jul 2 (183/365): −50137 + 9 × 10000 × 183/365 = 45123.29 → +45123: net −5014,
    pending (decrease = credit_next_invoice), netted on the renewal: 9 × 10000 − 5014 = 84986."""
    bill = bill_period(plan=PLANS["team-annual"], period=THRESHOLD_YEAR, seats=10,
                       seat_changes=[(utc(2026, 7, 2), 9)])
    assert [(line.amount, line.billed) for line in bill.lines if line.proration] == [
        (-50137, "next_invoice"), (45123, "next_invoice")]
    assert invoices(bill.lines)[0].total == 84986
