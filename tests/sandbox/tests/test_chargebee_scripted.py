"""Chargebee sandbox: a scripted month in day mode, a scripted year in millisecond mode, one-off charges.

Driven only through chargebee-python 3; every expected number is computed by hand in the comments
from the documented proration rule (reference chargebee.md §3), never from seatsync.
"""

from __future__ import annotations

import pytest
from chargebee import InvalidRequestError

from tests.sandbox.chargebee.testing import lines, ts


def test_scripted_month_in_day_mode(site):
    """June 2026 (30 days): flat team plan + per-seat addon, unbilled charges, a plan change."""
    site.settings(billing_mode="day")
    site.start(2026, 6, 1, 10)
    site.price("team-USD", "plan", 5000, model="flat_fee")
    site.price("business-USD", "plan", 8000, model="flat_fee")
    site.price("seat-addon-USD", "addon", 1000)
    site.customer("acme")
    first = site.subscribe("acme", "sub-june", [("team-USD", None), ("seat-addon-USD", 3)]).invoice
    assert (first.total, first.status) == (8000, "paid")

    def change(day, items):
        site.travel(2026, 6, day, 15)
        return site.change("sub-june", items, prorate=True, invoice_immediately=False)

    # Jun 7, seats 3 -> 5: 2 x 1000 x 24/30 = 1600 unbilled.
    assert [c.amount for c in change(7, [("seat-addon-USD", 5)]).unbilled_charges] == [1600]
    # Jun 13, seats 5 -> 4: revised to 2 seats Jun 7-12 (400) + 1 seat Jun 13-30 (600).
    assert sorted(c.amount for c in change(13, [("seat-addon-USD", 4)]).unbilled_charges) == [400, 600]
    # Jun 19, team -> business: 5000 x 12/30 = 2000 credit (paid term invoice: refundable),
    # 8000 x 12/30 = 3200 charge; the seat charges are reissued unchanged.
    r = change(19, [("business-USD", None)])
    assert [(n.type, n.total) for n in r.credit_notes] == [("refundable", 2000)]
    assert sorted(c.amount for c in r.unbilled_charges) == [400, 600, 3200]
    # Jun 25, seats 4 -> 2: 2 seats Jun 7-12 (400), 1 seat Jun 13-24 (400), and a credit of
    # 1 seat Jun 25-30 below the billed 3 (1000 x 6/30 = 200).
    r = change(25, [("seat-addon-USD", 2)])
    assert [(n.type, n.total) for n in r.credit_notes] == [("refundable", 200)]
    assert sorted(c.amount for c in site.unbilled("sub-june")) == [400, 400, 3200]

    site.travel(2026, 7, 1, 9)
    renewal = site.invoices("sub-june")[-1]
    # 8000 + 2 x 1000 + unbilled 4000 = 14000; credits 2200 apply; 11800 collected.
    assert (renewal.total, renewal.credits_applied, renewal.amount_paid, renewal.status) == (14000, 2200, 11800, "paid")
    assert sorted(lines(renewal)) == [("business-USD", 1, 3200), ("business-USD", 1, 8000),
                                      ("seat-addon-USD", 1, 400), ("seat-addon-USD", 2, 400),
                                      ("seat-addon-USD", 2, 2000)]
    sub = site.cb.Subscription.retrieve("sub-june").subscription
    assert (sub.current_term_start, sub.current_term_end) == (ts(2026, 7, 1), ts(2026, 7, 31, 23, 59, 59))
    assert site.cb.Customer.retrieve("acme").customer.refundable_credits == 0


def test_scripted_year_in_millisecond_mode_with_a_switch_to_yearly(site):
    site.start(2026, 1, 1)
    site.price("pro-monthly", "plan", 1200)
    site.price("pro-yearly", "plan", 12000, period=1, unit="year")
    site.customer("acme")
    assert site.subscribe("acme", "sub-year", [("pro-monthly", 10)]).invoice.total == 12000

    # Jan 16 12:00: +2 seats, invoiced now: 2 x 1200 x 15.5/31 = 1200.
    site.travel(2026, 1, 16, 12)
    assert site.change("sub-year", [("pro-monthly", 12)], prorate=True, invoice_immediately=True).invoice.total == 1200
    # Feb 1 renewal: 12 x 1200 = 14400 (term Feb 1 -> Mar 1, 28 days).
    site.travel(2026, 2, 1, 0, 0, 1)
    assert site.invoices("sub-year")[-1].total == 14400
    # Feb 8: -3 seats: 3 x 1200 x 21/28 = 2700 refundable.
    site.travel(2026, 2, 8)
    assert [n.total for n in site.change("sub-year", [("pro-monthly", 9)], prorate=True,
                                         invoice_immediately=True).credit_notes] == [2700]
    # Mar 1 renewal: 9 x 1200 = 10800 - 2700 credit = 8100 collected.
    site.travel(2026, 3, 1, 0, 0, 1)
    march = site.invoices("sub-year")[-1]
    assert (march.total, march.credits_applied, march.amount_paid) == (10800, 2700, 8100)
    # Mar 17: switch to yearly. The term resets: credit 9 x 1200 x 15/31 = 5225.81 -> 5226,
    # charge a full year 9 x 12000 = 108000, the credit applies at once.
    site.travel(2026, 3, 17)
    r = site.change("sub-year", [("pro-yearly", 9)], prorate=True, invoice_immediately=True)
    assert [n.total for n in r.credit_notes] == [5226]
    assert (r.invoice.total, r.invoice.credits_applied, r.invoice.amount_paid) == (108000, 5226, 102774)
    assert (r.subscription.billing_period_unit, r.subscription.current_term_start, r.subscription.current_term_end) == \
        ("year", ts(2026, 3, 17), ts(2027, 3, 17))
    # Sep 17: +1 seat, unbilled: 12000 x 181/365 = 5950.68 -> 5951.
    site.travel(2026, 9, 17)
    assert [c.amount for c in site.change("sub-year", [("pro-yearly", 10)], prorate=True,
                                          invoice_immediately=False).unbilled_charges] == [5951]
    # No renewal until Mar 17 2027: 10 x 12000 + 5951 unbilled.
    site.travel(2027, 3, 16)
    assert len(site.invoices("sub-year")) == 5
    site.travel(2027, 3, 17, 1)
    final = site.invoices("sub-year")[-1]
    assert (final.total, final.amount_paid, final.date) == (125951, 125951, ts(2027, 3, 17))
    assert [inv.total for inv in site.invoices("sub-year")] == [12000, 1200, 14400, 10800, 108000, 125951]


def test_one_off_charges_free_quantity_and_manual_collection(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.cb.Item.create({"id": "seats", "name": "Seats", "type": "plan"})
    site.cb.ItemPrice.create({"id": "seats-free2", "name": "Seats, 2 free", "item_id": "seats",
                              "pricing_model": "per_unit", "price": 1000, "period": 1, "period_unit": "month",
                              "free_quantity": 2})
    site.price("setup-USD", "charge", 9900, model="flat_fee", period=None, unit=None)
    site.customer("manual")
    r = site.subscribe("manual", "sub-manual", [("seats-free2", 5), ("setup-USD", None)], auto_collection="off")
    # Only seats beyond the 2 free ones are billed; the one-off charge rides on the first invoice.
    assert sorted(lines(r.invoice)) == [("seats-free2", 3, 3000), ("setup-USD", 1, 9900)]
    assert (r.invoice.status, r.invoice.amount_due) == ("posted", 12900)  # auto_collection off: not charged
    assert [i.item_price_id for i in r.subscription.subscription_items] == ["seats-free2"]
    site.travel(2026, 4, 16, 9)
    r = site.change("sub-manual", [("seats-free2", 1)], prorate=True, invoice_immediately=False)
    # 5 -> 1 seats is 3 -> 0 billable: 3 x 1000 x 15/30 = 1500 adjusts the posted invoice.
    assert [(n.type, n.total) for n in r.credit_notes] == [("adjustment", 1500)]
    site.change("sub-manual", [("seats-free2", 4)], prorate=True, invoice_immediately=False)
    invoiced = site.cb.UnbilledCharge.invoice_unbilled_charges({"customer_id": "manual"}).invoices
    assert [lines(inv) for inv in invoiced] == [[("seats-free2", 2, 1000)]]
    assert invoiced[0].status == "posted"
    with pytest.raises(InvalidRequestError) as both:
        site.cb.UnbilledCharge.invoice_unbilled_charges({"customer_id": "manual", "subscription_id": "sub-manual"})
    assert both.value.param == "subscription_id"
    assert [e.item_price.id for e in site.cb.ItemPrice.list({"item_id": {"is": "seats"}}).list] == ["seats-free2"]
