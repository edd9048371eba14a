"""Stripe sandbox billing, checked against the reference's worked examples and the seeds.

Every expected amount below is computed by hand in the comments from the
reference (stripe.md §1) or a seed article, never read back from the sandbox.
Driven only through the official stripe SDK.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from tests.sandbox.stripe import billing
from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

DAY = 86400
AUG_1_2020 = 1596240000
SEP_1_2020 = 1598918400
OCT_1_2020 = 1601510400
NOV_1_2020 = 1604188800
JAN_1_2021 = 1609459200
JAN_1_2022 = 1640995200


def pending(client, customer_id):
    items = client.v1.invoice_items.list({"customer": customer_id, "pending": True, "limit": 100}).data
    return sorted(items, key=lambda ii: ii.id)


def advance(client, clock_id, to):
    clock = client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": to})
    assert clock.status == "ready" and clock.frozen_time == to
    return clock


# ------------------------------------------------------------ pure arithmetic


def test_rounding_rule_is_round_half_up_on_the_magnitude():
    # The rule is the sandbox's choice; Stripe's tie-break is unverified (reference §1 Gaps).
    assert billing.round_minor(Decimal("166.35")) == 166
    assert billing.round_minor(Decimal("540.96")) == 541
    assert billing.round_minor(Decimal("1662.5")) == 1663
    assert billing.round_minor(Decimal("-1662.5")) == -1663
    assert billing.round_minor(Decimal("-0.49")) == 0


def test_each_line_of_a_pair_is_rounded_on_its_own():
    # 5→8 seats at 1000¢ with 25 of 30 days left: −4166.67 → −4167, +6666.67 → +6667;
    # the net 2500 equals round(3000 × 25/30) here, but not in general.
    assert billing.proration_pair((1000, 5), (1000, 8), 0, 30 * DAY, 5 * DAY) == (-4167, 6667)
    # 1→2 seats at 1¢ over 3 s with 2 s left: −0.67 → −1, +1.33 → +1: net 0 where round(0.67) is 1.
    credit, debit = billing.proration_pair((1, 1), (1, 2), 0, 3, 1)
    assert (credit, debit, credit + debit) == (-1, 1, 0)


@given(unit=st.integers(0, 10**7), old=st.integers(0, 500), new=st.integers(0, 500),
       period=st.integers(1, 400 * DAY), data=st.data())
def test_pair_net_is_within_one_minor_unit_of_the_exact_delta(unit, old, new, period, data):
    at = data.draw(st.integers(0, period))
    credit, debit = billing.proration_pair((unit, old), (unit, new), 0, period, at)
    exact = Decimal(unit) * (new - old) * (period - at) / period
    assert abs(Decimal(credit + debit) - exact) <= 1
    assert credit <= 0 <= debit


@given(unit=st.integers(0, 10**7), a=st.integers(0, 500), b=st.integers(0, 500),
       period=st.integers(1, 400 * DAY), data=st.data())
def test_a_change_and_its_reversal_at_the_same_instant_cancel_exactly(unit, a, b, period, data):
    at = data.draw(st.integers(0, period))
    there = billing.proration_pair((unit, a), (unit, b), 0, period, at)
    back = billing.proration_pair((unit, b), (unit, a), 0, period, at)
    assert sum(there) + sum(back) == 0


def test_month_end_anchors_clamp_to_the_last_day_and_come_back():
    jan_31_2021 = 1612051200
    feb_28 = billing.add_interval(jan_31_2021, "month", 1, 1)
    mar_31 = billing.add_interval(jan_31_2021, "month", 1, 2)
    assert (feb_28 - jan_31_2021) // DAY == 28
    assert (mar_31 - jan_31_2021) // DAY == 59
    jan_31_2024 = 1706659200
    assert (billing.add_interval(jan_31_2024, "month", 1, 1) - jan_31_2024) // DAY == 29  # leap year
    assert billing.add_interval(JAN_1_2021, "year", 1, 1) == JAN_1_2022


def test_balance_application():
    assert billing.apply_balance(10000, -2500) == (7500, 0)
    assert billing.apply_balance(1000, -2500) == (0, -1500)
    assert billing.apply_balance(-4000, 0) == (0, -4000)
    assert billing.apply_balance(1000, 300) == (1300, 0)


# ------------------------------------------------------ worked examples (SDK)


def test_pro_worked_example_silver_to_gold(stripe_client):
    """PRO: period 2,678,400 s, 445,540 s left: Silver 1000¢ → −166, Gold 3252¢ → +541."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, AUG_1_2020)
    silver = stripe_price(client, "Silver plan", 1000)
    gold = stripe_price(client, "Gold plan", 3252)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": silver.id}]})
    item = sub["items"].data[0]
    assert item.current_period_end - item.current_period_start == 2_678_400
    proration_date = item.current_period_end - 445_540

    preview = client.v1.invoices.create_preview({
        "customer": customer.id, "subscription": sub.id,
        "subscription_details": {"items": [{"id": item.id, "price": gold.id}], "proration_date": proration_date}})
    previewed = [line.amount for line in preview.lines.data if line.parent.subscription_item_details.proration]
    assert previewed == [-166, 541]
    assert preview.id.startswith("upcoming_in_") and preview.billing_reason == "upcoming"

    client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": gold.id}],
                                            "proration_date": proration_date})
    credit, debit = pending(client, customer.id)
    assert (credit.amount, debit.amount) == (-166, 541)
    assert credit.description == "Unused time on Silver plan after 26 Aug 2020"
    assert debit.description == "Remaining time on Gold plan after 26 Aug 2020"
    assert credit.period.start == debit.period.start == proration_date
    assert credit.period.end == item.current_period_end
    assert credit.proration and debit.proration and not credit.discountable
    assert credit.pricing.price_details.price == silver.id and debit.pricing.price_details.price == gold.id
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].quantity == 1


def test_seed_standard_to_premium_halfway_bills_35_dollars(stripe_client):
    """Seed 001: $60/month for 10 users → $130 premium halfway: +$65 − $30 = $35."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)  # September: 30 days
    standard = stripe_price(client, "Standard", 600)
    premium = stripe_price(client, "Premium", 1300)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": standard.id, "quantity": 10}]})
    advance(client, clock.id, SEP_1_2020 + 15 * DAY)
    item = sub["items"].data[0]
    updated = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": premium.id, "quantity": 10}],
                                                      "proration_behavior": "always_invoice"})
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)
    assert sorted(line.amount for line in invoice.lines.data) == [-3000, 6500]
    assert (invoice.total, invoice.amount_paid, invoice.status) == (3500, 3500, "paid")
    assert invoice.billing_reason == "subscription_update"
    assert pending(client, customer.id) == []


def test_scripted_month_seat_changes_plan_swap_and_renewal(stripe_client):
    """September 2020 (30 days): Team ($49 base + $10/seat) → Business ($99 + $15/seat).

    Hand computation, each line rounded on its own:
      Sep 6   5→8 seats, 25/30 left:  −4166.67→−4167, +6666.67→+6667
      Sep 11 12:00 8→6, 19.5/30 left: −5200, +3900
      Sep 21 plan swap, 10/30 left:   base −1633.33→−1633, +3300; seats(6) −2000, +3000
      Sep 26  6→7 at $15, 5/30 left:  −1500, +1750
      pending sum = 4117; Oct renewal = 4117 + 9900 + 7×1500 = 24517; a −500 credit
      on the balance is applied: amount due 24017.
    """
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    team_base, team_seat = stripe_price(client, "Team base", 4900), stripe_price(client, "Team seat", 1000)
    biz_base, biz_seat = stripe_price(client, "Business base", 9900), stripe_price(client, "Business seat", 1500)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [
        {"price": team_base.id, "quantity": 1}, {"price": team_seat.id, "quantity": 5}]})
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (first.total, first.status, first.billing_reason) == (9900, "paid", "subscription_create")
    base_item, seat_item = sub["items"].data
    client.v1.customers.balance_transactions.create(customer.id, {"amount": -500, "currency": "usd"})

    advance(client, clock.id, SEP_1_2020 + 5 * DAY)
    client.v1.subscription_items.update(seat_item.id, {"quantity": 8})
    advance(client, clock.id, SEP_1_2020 + 10 * DAY + DAY // 2)
    client.v1.subscription_items.update(seat_item.id, {"quantity": 6})
    advance(client, clock.id, SEP_1_2020 + 20 * DAY)
    client.v1.subscriptions.update(sub.id, {"items": [
        {"id": base_item.id, "price": biz_base.id, "quantity": 1},
        {"id": seat_item.id, "price": biz_seat.id, "quantity": 6}]})
    advance(client, clock.id, SEP_1_2020 + 25 * DAY)
    client.v1.subscription_items.update(seat_item.id, {"quantity": 7})

    amounts = [ii.amount for ii in pending(client, customer.id)]
    assert amounts == [-4167, 6667, -5200, 3900, -1633, 3300, -2000, 3000, -1500, 1750]
    assert sum(amounts) == 4117

    advance(client, clock.id, OCT_1_2020)  # renewal invoice created as a draft…
    renewal = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert (renewal.status, renewal.billing_reason, renewal.total) == ("draft", "subscription_cycle", 24517)
    advance(client, clock.id, OCT_1_2020 + 2 * 3600)  # …finalized an hour later and collected
    renewal = client.v1.invoices.retrieve(renewal.id)
    assert renewal.status == "paid"
    assert (renewal.starting_balance, renewal.amount_due, renewal.ending_balance) == (-500, 24017, 0)
    cycle_lines = [line for line in renewal.lines.data if not line.parent.subscription_item_details.proration]
    assert [(line.amount, line.quantity, line.period.start) for line in cycle_lines] == [
        (9900, 1, OCT_1_2020), (10500, 7, OCT_1_2020)]
    assert renewal.parent.subscription_details.subscription == sub.id
    assert renewal.period_start == SEP_1_2020 and renewal.period_end == OCT_1_2020
    assert client.v1.customers.retrieve(customer.id).balance == 0
    assert pending(client, customer.id) == []
    item = client.v1.subscription_items.retrieve(seat_item.id)
    assert (item.current_period_start, item.current_period_end) == (OCT_1_2020, NOV_1_2020)


def test_scripted_year_with_150_dollar_threshold_invoicing(stripe_client):
    """Seed 002 annual plan: $120/seat/year; prorations invoiced once they pass $150.

    2021 has 365 days. Hand computation (remaining days / 365):
      Mar 1  10→14, 306 left: −100602.74→−100603, +140843.84→+140844 → net 40241 ≥ 15000: invoice
      Jun 15 14→13, 200 left: −92054.79→−92055,   +85479.45→+85479  → pending −6576
      Sep 1  13→16, 122 left: −52142.47→−52142,   +64175.34→+64175  → pending  5457
      Nov 1  16→20,  61 left: −32087.67→−32088,   +40109.59→+40110  → pending 13479 < 15000
      Jan 1 2022 renewal: 13479 + 20 × 12000 = 253479
    """
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, JAN_1_2021)
    seat = stripe_price(client, "Annual seat", 12000, interval="year")
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 10}]})
    item = sub["items"].data[0]
    assert client.v1.invoices.retrieve(sub.latest_invoice).total == 120000

    threshold_invoices = []
    for day, seats in ((1614556800, 14), (1623715200, 13), (1630454400, 16), (1635724800, 20)):
        advance(client, clock.id, day)
        client.v1.subscription_items.update(item.id, {"quantity": seats})
        if sum(ii.amount for ii in pending(client, customer.id)) >= 15000:
            invoice = client.v1.invoices.create({"customer": customer.id, "subscription": sub.id,
                                                 "pending_invoice_items_behavior": "include"})
            invoice = client.v1.invoices.finalize_invoice(invoice.id)
            threshold_invoices.append(client.v1.invoices.pay(invoice.id))
    assert [(inv.total, inv.status, inv.billing_reason) for inv in threshold_invoices] == [(40241, "paid", "manual")]
    assert sorted(line.amount for line in threshold_invoices[0].lines.data) == [-100603, 140844]
    assert [ii.amount for ii in pending(client, customer.id)] == [-92055, 85479, -52142, 64175, -32088, 40110]

    advance(client, clock.id, JAN_1_2022 + 3 * 3600)
    renewal = client.v1.invoices.list({"customer": customer.id, "subscription": sub.id, "limit": 1}).data[0]
    assert (renewal.billing_reason, renewal.total, renewal.amount_paid, renewal.status) == (
        "subscription_cycle", 253479, 253479, "paid")
    assert client.v1.subscription_items.retrieve(item.id).current_period_end == billing.add_interval(
        JAN_1_2022, "year", 1, 1)


def test_negative_invoice_goes_to_the_balance_and_is_never_refunded(stripe_client):
    """10→2 seats at $10 halfway with always_invoice: −5000 + 1000 = −4000 → balance −4000.
    October renewal 2000 is paid from the credit (balance −2000), November's too (balance 0)."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 10}]})
    advance(client, clock.id, SEP_1_2020 + 15 * DAY)
    updated = client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 2,
                                                                           "proration_behavior": "always_invoice"})
    credit_invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert updated.quantity == 2
    assert (credit_invoice.total, credit_invoice.amount_due, credit_invoice.amount_paid) == (-4000, 0, 0)
    assert (credit_invoice.status, credit_invoice.ending_balance) == ("paid", -4000)
    assert client.v1.customers.retrieve(customer.id).balance == -4000
    txns = client.v1.customers.balance_transactions.list(customer.id).data
    assert [(t.amount, t.type, t.invoice) for t in txns] == [(-4000, "applied_to_invoice", credit_invoice.id)]

    advance(client, clock.id, OCT_1_2020 + 2 * 3600)
    october = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert (october.total, october.amount_due, october.ending_balance, october.status) == (2000, 0, -2000, "paid")
    advance(client, clock.id, NOV_1_2020 + 2 * 3600)
    november = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert (november.total, november.amount_due, november.ending_balance) == (2000, 0, 0)
    assert client.v1.customers.retrieve(customer.id).balance == 0


def test_amount_below_the_minimum_charge_moves_to_the_balance(stripe_client):
    """A 30¢ immediate proration is under Stripe's 50¢ minimum: marked paid, +30 on the balance."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    seat = stripe_price(client, "Seat", 100)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 1}]})
    advance(client, clock.id, SEP_1_2020 + 21 * DAY)  # 9 of 30 days left: 1→2 seats at 100¢
    # credit −round(100 × 0.3) = −30, debit round(200 × 0.3) = +60 → an invoice of 30¢
    client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 2, "proration_behavior": "always_invoice"})
    small = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (small.total, small.amount_due, small.amount_paid, small.status) == (30, 30, 0, "paid")
    assert client.v1.customers.retrieve(customer.id).balance == 30
    advance(client, clock.id, OCT_1_2020 + 2 * 3600)
    october = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert (october.total, october.starting_balance, october.amount_due) == (200, 30, 230)


def test_proration_behavior_none_changes_quantity_without_items(stripe_client):
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]})
    advance(client, clock.id, SEP_1_2020 + 10 * DAY)
    client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 9, "proration_behavior": "none"})
    assert pending(client, customer.id) == []
    advance(client, clock.id, OCT_1_2020 + 2 * 3600)
    october = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert october.total == 9000  # "billed the full amount at the new price" (PRO)


def test_payment_outcome_follows_the_test_payment_method(stripe_client):
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020, payment_method="pm_card_chargeCustomerFail")
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 2}]})
    assert sub.status == "incomplete"
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (first.status, first.attempt_count, first.amount_paid) == ("open", 1, 0)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(first.id)
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    assert client.v1.invoices.pay(first.id).status == "paid"
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"

    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}})
    advance(client, clock.id, OCT_1_2020 + 2 * 3600)
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    renewal = client.v1.invoices.list({"customer": customer.id, "limit": 1}).data[0]
    assert renewal.status == "open" and renewal.amount_remaining == 2000
    types = [e.type for e in client.v1.events.list({"types": ["invoice.payment_failed"], "limit": 10}).data]
    assert types == ["invoice.payment_failed"] * 3  # create, manual pay, renewal
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    client.v1.invoices.pay(renewal.id)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"


@pytest.mark.parametrize("behavior, credit, total", [("create_prorations", -2500, 47500), ("none", None, 50000)])
def test_monthly_to_yearly_bills_now_and_moves_the_billing_date(stripe_client, behavior, credit, total):
    """CHG: a new interval is billed at once from the day of the change; unused time is
    credited (5 × 1000¢ × 15/30 = 2500) unless proration_behavior=none."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    monthly = stripe_price(client, "Seat monthly", 1000)
    yearly = stripe_price(client, "Seat yearly", 10000, interval="year")
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": monthly.id, "quantity": 5}]})
    change_at = SEP_1_2020 + 15 * DAY
    advance(client, clock.id, change_at)
    item = sub["items"].data[0]
    preview = client.v1.invoices.create_preview({"subscription": sub.id, "subscription_details": {
        "items": [{"id": item.id, "price": yearly.id, "quantity": 5}], "proration_behavior": behavior}})
    updated = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": yearly.id, "quantity": 5}],
                                                      "proration_behavior": behavior})
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)
    assert preview.total == invoice.total == total
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == ("subscription_update", "paid", total)
    prorations = [line.amount for line in invoice.lines.data if line.parent.subscription_item_details.proration]
    assert prorations == ([credit] if credit else [])
    new_item = updated["items"].data[0]
    assert updated.billing_cycle_anchor == new_item.current_period_start == change_at
    assert new_item.current_period_end == billing.add_interval(change_at, "year", 1, 1)


def test_failed_immediate_invoice_keeps_the_change_and_makes_the_subscription_past_due(stripe_client):
    """CHG: "the subscription change request succeeds and the subscription transitions to past_due"."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 2}]})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}})
    advance(client, clock.id, SEP_1_2020 + 15 * DAY)
    updated = client.v1.subscriptions.update(sub.id, {"items": [{"id": sub["items"].data[0].id, "quantity": 4}],
                                                      "proration_behavior": "always_invoice"})
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)
    assert (updated.status, updated["items"].data[0].quantity) == ("past_due", 4)
    assert (invoice.status, invoice.total, invoice.amount_remaining) == ("open", 1000, 1000)  # −1000 + 2000
