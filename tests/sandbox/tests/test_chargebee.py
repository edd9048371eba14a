"""Chargebee sandbox fidelity: billing behaviour driven only through chargebee-python 3.

Expected numbers come from the reference (chargebee.md §2a/§3 worked example,
support topic 40893) and seed 000, computed by hand in the comments, never
from seatsync.
"""

from __future__ import annotations

import json

import pytest
from chargebee import InvalidRequestError, PaymentError

from tests.sandbox.chargebee.testing import SEAT, lines, ts


# catalog and customers --------------------------------------------------------------------


def test_items_item_prices_and_customers_round_trip(site):
    site.start(2026, 4, 1)
    site.price("base-USD-yearly", "plan", 50000, model="flat_fee", period=1, unit="year")
    site.price("onboarding-USD", "charge", 9900, model="flat_fee", period=None, unit=None)
    cb = site.cb
    assert cb.Item.retrieve("item-base-USD-yearly").item.type == "plan"
    price = cb.ItemPrice.retrieve("base-USD-yearly").item_price
    assert (price.item_type, price.pricing_model, price.price, price.period, price.period_unit, price.currency_code) == \
        ("plan", "flat_fee", 50000, 1, "year", "USD")
    assert {e.item_price.id for e in cb.ItemPrice.list({"limit": 10}).list} == {"base-USD-yearly", "onboarding-USD"}
    assert len(cb.Item.list().list) == 2

    created = cb.Customer.create({"id": "c1", "email": "c1@example.com", "card": {"number": "4111111111111111"}})
    assert created.customer.card_status == "valid" and created.customer.refundable_credits == 0
    fetched = cb.Customer.retrieve("c1").customer
    assert fetched.email == "c1@example.com" and fetched.balances[0].refundable_credits == 0
    assert [e.customer.id for e in cb.Customer.list().list] == ["c1"]

    with pytest.raises(InvalidRequestError) as dup:
        cb.Customer.create({"id": "c1"})
    assert (dup.value.http_status_code, dup.value.api_error_code, dup.value.param) == (400, "duplicate_entry", "id")
    with pytest.raises(InvalidRequestError) as missing:
        cb.Customer.retrieve("nobody")
    assert (missing.value.http_status_code, missing.value.api_error_code) == (404, "resource_not_found")
    with pytest.raises(InvalidRequestError) as no_period:
        cb.Item.create({"id": "addon-x", "name": "X", "type": "addon"})
        cb.ItemPrice.create({"id": "addon-x-USD", "name": "X USD", "item_id": "addon-x", "pricing_model": "per_unit",
                             "price": 1})
    assert no_period.value.param == "period"
    with pytest.raises(InvalidRequestError) as tiered:
        cb.ItemPrice.create({"id": "tiered", "name": "Tiered", "item_id": "addon-x", "pricing_model": "tiered",
                             "period": 1, "period_unit": "month"})
    assert tiered.value.api_error_code == "configuration_incompatible"


def test_create_with_items_invoices_the_first_term_and_collects(april):
    cb = april.cb
    sub = cb.Subscription.retrieve("sub-acme").subscription
    assert (sub.status, sub.current_term_start, sub.current_term_end, sub.next_billing_at) == \
        ("active", ts(2026, 4, 1), ts(2026, 4, 30, 23, 59, 59), ts(2026, 4, 30, 23, 59, 59))
    assert (sub.subscription_items[0].quantity, sub.subscription_items[0].unit_price,
            sub.subscription_items[0].amount) == (5, 1000, 5000)
    [invoice] = april.invoices("sub-acme")
    assert (invoice.total, invoice.amount_paid, invoice.amount_due, invoice.status, invoice.recurring) == \
        (5000, 5000, 0, "paid", True)
    assert invoice.line_items[0].date_from == ts(2026, 4, 1)
    assert cb.Invoice.retrieve(invoice.id).invoice.linked_payments[0].txn_status == "success"
    assert april.event_types() == ["customer_created", "subscription_created", "payment_succeeded",
                                   "invoice_generated"]
    [listed] = cb.Subscription.list({"customer_id": {"is": "acme"}}).list
    assert (listed.subscription.id, listed.customer.id) == ("sub-acme", "acme")
    assert cb.Subscription.list({"customer_id": {"is": "nobody"}}).list == []
    generated = cb.Event.list({"event_type": {"is": "invoice_generated"}}).list[0].event
    assert (generated.content["invoice"]["status"], generated.source) == ("paid", "api")


# the reference's worked seat example, day mode ---------------------------------------------------


def test_worked_example_with_unbilled_charges_revises_instead_of_stacking(april):
    april.travel(2026, 4, 11, 14)
    r = april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    # 3 seats x 1000 x 20/30 = 2000, from Apr 11 to the term end.
    [charge] = r.unbilled_charges
    assert (charge.amount, charge.quantity, charge.unit_amount, charge.date_from, charge.date_to) == \
        (2000, 3, 1000, ts(2026, 4, 11), ts(2026, 4, 30, 23, 59, 59))
    assert r.invoice is None and r.credit_notes is None
    assert april.cb.Customer.retrieve("acme").customer.unbilled_charges == 2000

    april.travel(2026, 4, 21, 8)
    r = april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=False)
    # The pending 2000 is voided and reissued: 3 seats Apr 11-20 (1000) + 1 seat Apr 21-30 (333.33 -> 333).
    assert sorted((c.quantity, c.amount, c.date_from) for c in r.unbilled_charges) == \
        [(1, 333, ts(2026, 4, 21)), (3, 1000, ts(2026, 4, 11))]
    assert r.credit_notes is None
    assert sorted(c.amount for c in april.unbilled("sub-acme")) == [333, 1000]
    voided = april.cb.UnbilledCharge.list({"subscription_id": {"is": "sub-acme"}, "is_voided": True}).list
    assert [(v.unbilled_charge.amount, v.unbilled_charge.is_voided) for v in voided] == [(2000, True)]

    april.travel(2026, 5, 1, 6)
    renewal = april.invoices("sub-acme")[-1]
    # May 1 renewal: 6 x 1000 + open unbilled charges (1333).
    assert sorted(lines(renewal)) == [(SEAT, 1, 333), (SEAT, 3, 1000), (SEAT, 6, 6000)]
    assert (renewal.total, renewal.amount_paid, renewal.status, renewal.date) == (7333, 7333, "paid", ts(2026, 5, 1))
    assert april.unbilled("sub-acme") == []
    assert "unbilled_charges_voided" in april.event_types() and "subscription_renewed" in april.event_types()


def test_worked_example_invoiced_now_then_refundable_credit_applied_at_renewal(april):
    april.travel(2026, 4, 11, 14)
    r = april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=True)
    assert (r.invoice.total, r.invoice.status, r.invoice.recurring) == (2000, "paid", False)
    assert lines(r.invoice) == [(SEAT, 3, 2000)]

    april.travel(2026, 4, 21, 8)
    r = april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True)
    # 2 x 1000 x 10/30 = 666.67 -> 667 under the sandbox's ROUND_HALF_UP (rule unverified, reference §10).
    [note] = r.credit_notes
    assert (note.type, note.reason_code, note.total, note.amount_available, note.status) == \
        ("refundable", "subscription_change", 667, 667, "refund_due")
    assert r.invoice is None
    assert april.cb.Customer.retrieve("acme").customer.refundable_credits == 667
    assert april.cb.CreditNote.retrieve(note.id).credit_note.line_items[0].date_from == ts(2026, 4, 21)

    april.travel(2026, 5, 1, 6)
    renewal = april.invoices("sub-acme")[-1]
    # 6 x 1000 = 6000, minus the 667 credit that auto-applies.
    assert (renewal.total, renewal.credits_applied, renewal.amount_paid, renewal.status) == (6000, 667, 5333, "paid")
    assert renewal.applied_credits[0].cn_id == note.id
    spent = april.cb.CreditNote.retrieve(note.id).credit_note
    assert (spent.amount_available, spent.amount_allocated, spent.allocations[0].invoice_id) == (0, 667, renewal.id)
    assert april.cb.Customer.retrieve("acme").customer.refundable_credits == 0


def test_rounding_rule_is_a_site_setting(april):
    april.settings(rounding="ROUND_DOWN")
    april.travel(2026, 4, 21, 8)
    r = april.change("sub-acme", [(SEAT, 3)], prorate=True, invoice_immediately=True)
    assert r.credit_notes[0].total == 666


def test_decrease_against_an_unpaid_term_invoice_is_an_adjustment(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("nocard", card=None)
    site.subscribe("nocard", "sub-nocard", [(SEAT, 5)])
    [term_invoice] = site.invoices("sub-nocard")
    assert (term_invoice.status, term_invoice.amount_due) == ("payment_due", 5000)
    site.travel(2026, 4, 16, 10)
    r = site.change("sub-nocard", [(SEAT, 3)], prorate=True, invoice_immediately=False)
    # 2 x 1000 x 15/30 = 1000 lowers the unpaid invoice.
    [note] = r.credit_notes
    assert (note.type, note.total, note.status, note.reference_invoice_id) == ("adjustment", 1000, "adjusted", term_invoice.id)
    adjusted = site.cb.Invoice.retrieve(term_invoice.id).invoice
    assert (adjusted.amount_adjusted, adjusted.amount_due, adjusted.adjustment_credit_notes[0].cn_id) == \
        (1000, 4000, note.id)
    due = site.cb.Subscription.retrieve("sub-nocard").subscription
    assert (due.due_invoices_count, due.total_dues, due.due_since) == (1, 4000, ts(2026, 4, 1, 9))


def test_a_credit_beyond_the_unpaid_amount_is_split_adjustment_then_refundable(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("nocard", card=None)
    site.subscribe("nocard", "sub-split", [(SEAT, 10)])
    [term_invoice] = site.invoices("sub-split")
    assert (term_invoice.status, term_invoice.amount_due) == ("payment_due", 10000)
    site.travel(2026, 4, 6, 9)
    # +30 seats invoiced now on a separate invoice: 30 x 1000 x 25/30 = 25000.
    assert site.change("sub-split", [(SEAT, 40)], prorate=True, invoice_immediately=True).invoice.total == 25000
    # 40 -> 1: 39 x 1000 x 25/30 = 32500 credit; the unpaid term invoice absorbs its 10000 due.
    r = site.change("sub-split", [(SEAT, 1)], prorate=True, invoice_immediately=True)
    assert [(n.type, n.total, sum(li.amount for li in n.line_items)) for n in r.credit_notes] == \
        [("adjustment", 10000, 10000), ("refundable", 22500, 22500)]
    adjusted = site.cb.Invoice.retrieve(term_invoice.id).invoice
    assert (adjusted.amount_due, adjusted.amount_adjusted, adjusted.status) == (0, 10000, "paid")
    assert site.cb.Customer.retrieve("nocard").customer.refundable_credits == 22500


def test_seed_000_deactivation_on_april_16_pays_exactly_half(april):
    april.travel(2026, 4, 16, 17)
    r = april.change("sub-acme", [(SEAT, 4)], prorate=True, invoice_immediately=True)
    # One seat paid for Apr 1-30 gets Apr 16-30 back: 1000 x 15/30 = 500, exactly half.
    assert [(n.type, n.total) for n in r.credit_notes] == [("refundable", 500)]
    assert r.credit_notes[0].line_items[0].date_from == ts(2026, 4, 16)


def test_support_example_30_to_15_plan_change_credits_26_and_charges_13(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price("basic-USD", "plan", 3000, model="flat_fee")
    site.price("lite-USD", "plan", 1500, model="flat_fee")
    site.customer("shop")
    site.subscribe("shop", "sub-shop", [("basic-USD", None)])
    site.travel(2026, 4, 5, 12)
    r = site.change("sub-shop", [("lite-USD", None)], prorate=True, invoice_immediately=True)
    # 26 of 30 days left: $30 x 26/30 = $26 credit, $15 x 26/30 = $13 charge.
    assert [(n.type, n.total) for n in r.credit_notes] == [("refundable", 2600)]
    assert lines(r.invoice) == [("lite-USD", 1, 1300)]
    # The refundable credit pays the new charge; $13 stays available.
    assert (r.invoice.credits_applied, r.invoice.amount_paid, r.invoice.status) == (1300, 0, "paid")
    assert site.cb.CreditNote.retrieve(r.credit_notes[0].id).credit_note.amount_available == 1300
    assert [i.item_price_id for i in r.subscription.subscription_items] == ["lite-USD"]


def test_prorate_false_bills_from_renewal_and_suppresses_later_credits(april):
    april.travel(2026, 4, 11, 14)
    r = april.change("sub-acme", [(SEAT, 8)], prorate=False, invoice_immediately=False)
    assert (r.invoice, r.unbilled_charges, r.credit_notes) == (None, None, None)
    assert r.subscription.subscription_items[0].quantity == 8
    april.travel(2026, 4, 21, 8)
    # SPEC: after a prorate=false change in the term, prorate=true creates no credits...
    r = april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=True)
    assert (r.credit_notes, r.invoice) == (None, None)
    # ...but still charges an increase.
    r = april.change("sub-acme", [(SEAT, 7)], prorate=True, invoice_immediately=True)
    assert lines(r.invoice) == [(SEAT, 1, 333)]
    april.travel(2026, 5, 1, 6)
    assert lines(april.invoices("sub-acme")[-1]) == [(SEAT, 7, 7000)]
    assert april.credit_notes("sub-acme") == []


def test_site_defaults_apply_only_when_the_request_omits_the_flags(april):
    april.settings(prorate=False, invoice_immediately=False)
    april.travel(2026, 4, 11, 14)
    r = april.change("sub-acme", [(SEAT, 6)], prorate=None, invoice_immediately=None)
    assert (r.invoice, r.unbilled_charges) == (None, None)  # site: no proration
    april.settings(prorate=True)
    r = april.change("sub-acme", [(SEAT, 7)], prorate=None, invoice_immediately=None)
    assert [(c.quantity, c.amount) for c in r.unbilled_charges] == [(1, 667)]  # site: unbilled
    r = april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=True)
    # Explicit flags win; the pending 667 is swept into this invoice as 2 seats x 20/30.
    assert lines(r.invoice) == [(SEAT, 2, 1333)]


def test_millisecond_mode_prorates_to_the_millisecond(site):
    site.start(2026, 4, 1)
    assert site.control("settings", method="get")["billing_mode"] == "millisecond"
    site.price(SEAT, "plan", 1000)
    site.customer("acme")
    site.subscribe("acme", "sub-ms", [(SEAT, 5)])
    site.travel(2026, 4, 16, 12)
    r = site.change("sub-ms", [(SEAT, 6)], prorate=True, invoice_immediately=True)
    # 14.5 of 30 days left: 1000 x 29/60 = 483.33 -> 483.
    assert lines(r.invoice) == [(SEAT, 1, 483)]
    assert r.invoice.line_items[0].date_from == ts(2026, 4, 16, 12)
    assert r.subscription.current_term_end == ts(2026, 5, 1)


def test_day_mode_follows_the_site_timezone(site):
    site.settings(billing_mode="day", timezone="America/New_York")
    site.start(2026, 4, 1, 12)  # 08:00 in New York
    site.price(SEAT, "plan", 1000)
    site.customer("acme")
    sub = site.subscribe("acme", "sub-ny", [(SEAT, 1)]).subscription
    midnight_ny = ts(2026, 4, 1, 4)  # 00:00 EDT
    assert sub.current_term_start == midnight_ny
    assert sub.current_term_end == ts(2026, 5, 1, 4) - 1


def test_addons_and_replace_items_list(site):
    site.start(2026, 4, 1)
    site.price("team-USD", "plan", 5000, model="flat_fee")
    site.price("seat-addon-USD", "addon", 1000)
    site.price("support-addon-USD", "addon", 2000, model="flat_fee")
    site.customer("acme")
    site.subscribe("acme", "sub-team", [("team-USD", None), ("seat-addon-USD", 2)])
    r = site.change("sub-team", [("support-addon-USD", None)], prorate=False, invoice_immediately=False)
    assert sorted(i.item_price_id for i in r.subscription.subscription_items) == \
        ["seat-addon-USD", "support-addon-USD", "team-USD"]
    r = site.change("sub-team", [("seat-addon-USD", 4)], prorate=False, invoice_immediately=False,
                    replace_items_list=True)
    items = {i.item_price_id: getattr(i, "quantity", None) for i in r.subscription.subscription_items}
    assert items == {"team-USD": None, "seat-addon-USD": 4}  # plan kept, other addons replaced
    with pytest.raises(InvalidRequestError) as flat_qty:
        site.change("sub-team", [("support-addon-USD", 3)], prorate=False, invoice_immediately=False)
    assert flat_qty.value.param == "subscription_items[quantity][0]"


def test_proration_type_precedence_item_param_over_prorate_over_item_price(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price("team-USD", "plan", 5000, model="flat_fee")
    site.price("seat-addon-USD", "addon", 1000)
    site.cb.Item.create({"id": "item-full", "name": "Full seat", "type": "addon"})
    site.cb.ItemPrice.create({"id": "full-seat-USD", "name": "Full seat", "item_id": "item-full",
                              "pricing_model": "per_unit", "price": 1000, "period": 1, "period_unit": "month",
                              "proration_type": "full_term"})
    site.customer("acme")
    site.subscribe("acme", "sub-pt", [("team-USD", 1), ("seat-addon-USD", 2), ("full-seat-USD", 2)])
    site.travel(2026, 4, 16, 10)
    # item_price.proration_type=full_term applies when prorate is omitted: 1 seat, whole term.
    r = site.change("sub-pt", [("full-seat-USD", 3)], prorate=None, invoice_immediately=True)
    assert lines(r.invoice) == [("full-seat-USD", 1, 1000)]
    assert r.invoice.line_items[0].date_from == ts(2026, 4, 1)
    # An explicit prorate=true beats it: 1 x 1000 x 15/30.
    r = site.change("sub-pt", [("full-seat-USD", 4)], prorate=True, invoice_immediately=True)
    assert lines(r.invoice) == [("full-seat-USD", 1, 500)]
    # subscription_items[proration_type] beats prorate, and stays on the item for the term.
    r = site.change("sub-pt", [("seat-addon-USD", 4)], prorate=True, invoice_immediately=True,
                    subscription_items=[{"item_price_id": "seat-addon-USD", "quantity": 4,
                                         "proration_type": "full_term"}])
    assert lines(r.invoice) == [("seat-addon-USD", 2, 2000)]
    assert {i.item_price_id: getattr(i, "proration_type", None) for i in r.subscription.subscription_items}[
        "seat-addon-USD"] == "full_term"
    with pytest.raises(InvalidRequestError) as again:
        site.change("sub-pt", [], prorate=True, invoice_immediately=True,
                    subscription_items=[{"item_price_id": "seat-addon-USD", "proration_type": "partial_term"}])
    assert again.value.param == "subscription_items[proration_type][0]"
    with pytest.raises(InvalidRequestError) as on_plan:
        site.change("sub-pt", [], prorate=True, invoice_immediately=True,
                    subscription_items=[{"item_price_id": "team-USD", "proration_type": "none"}])
    assert on_plan.value.param == "subscription_items[proration_type][0]"
    # none: no charge now, the renewal bills the new quantity.
    r = site.change("sub-pt", [], prorate=True, invoice_immediately=True,
                    subscription_items=[{"item_price_id": "full-seat-USD", "quantity": 6, "proration_type": "none"}])
    assert r.invoice is None and r.unbilled_charges is None
    site.travel(2026, 5, 1, 6)
    renewal = site.invoices("sub-pt")[-1]
    assert sorted(lines(renewal)) == [("full-seat-USD", 6, 6000), ("seat-addon-USD", 4, 4000), ("team-USD", 1, 5000)]
    sub = site.cb.Subscription.retrieve("sub-pt").subscription
    assert all(getattr(i, "proration_type", None) is None for i in sub.subscription_items)  # cleared at renewal


def test_flat_fee_items_take_quantity_one_only(site):
    site.start(2026, 4, 1)
    site.price("team-USD", "plan", 5000, model="flat_fee")
    site.customer("acme")
    r = site.subscribe("acme", "sub-flat", [("team-USD", 1)])
    assert lines(r.invoice) == [("team-USD", 1, 5000)]
    with pytest.raises(InvalidRequestError) as two:
        site.change("sub-flat", [("team-USD", 2)], prorate=True, invoice_immediately=True)
    assert two.value.param == "subscription_items[quantity][0]"


def test_validation_errors_name_the_parameter_and_store_nothing(april):
    before = april.cb.Subscription.retrieve("sub-acme").subscription.resource_version
    with pytest.raises(InvalidRequestError) as zero:
        april.change("sub-acme", [(SEAT, 0)], prorate=True, invoice_immediately=True)
    assert (zero.value.http_status_code, zero.value.api_error_code, zero.value.type, zero.value.param) == \
        (400, "param_wrong_value", "invalid_request", "subscription_items[quantity][0]")
    with pytest.raises(InvalidRequestError) as unknown:
        april.change("sub-acme", [(SEAT, 4), ("nope", 1)], prorate=True, invoice_immediately=True)
    assert (unknown.value.http_status_code, unknown.value.param) == (404, "subscription_items[item_price_id][1]")
    with pytest.raises(InvalidRequestError) as eot:
        april.change("sub-acme", [(SEAT, 4)], prorate=True, invoice_immediately=True, change_option="end_of_term",
                     changes_scheduled_at=ts(2026, 4, 2))
    assert eot.value.param == "changes_scheduled_at"
    with pytest.raises(InvalidRequestError) as bad_bool:
        april.cb.Subscription.update_for_items("sub-acme", {"subscription_items": [{"item_price_id": SEAT}],
                                                            "prorate": "maybe"})
    assert bad_bool.value.param == "prorate"
    with pytest.raises(InvalidRequestError) as bad_meta:
        # chargebee-python sends a dict meta_data as its Python repr; JSON is required.
        april.change("sub-acme", [(SEAT, 4)], prorate=True, invoice_immediately=True, meta_data={"a": 1})
    assert bad_meta.value.param == "meta_data"
    after = april.cb.Subscription.retrieve("sub-acme").subscription
    assert after.resource_version == before and after.subscription_items[0].quantity == 5
    assert len(april.invoices("sub-acme")) == 1 and april.credit_notes("sub-acme") == []


def test_meta_data_and_resource_version_on_every_write(april):
    first = april.cb.Subscription.retrieve("sub-acme").subscription.resource_version
    r = april.change("sub-acme", [(SEAT, 5)], prorate=True, invoice_immediately=True,
                     meta_data=json.dumps({"account": "acct_1", "seat_event": "evt_9"}))
    assert r.subscription.meta_data == {"account": "acct_1", "seat_event": "evt_9"}
    second = r.subscription.resource_version
    third = april.change("sub-acme", [(SEAT, 6)], prorate=False, invoice_immediately=True).subscription.resource_version
    assert first < second < third  # milliseconds, strictly increasing even at one instant
    assert second >= ts(2026, 4, 1, 9) * 1000


def test_invoice_unbilled_charges_on_demand(april):
    april.travel(2026, 4, 11, 14)
    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    r = april.cb.UnbilledCharge.invoice_unbilled_charges({"subscription_id": "sub-acme"})
    [invoice] = r.invoices
    assert (lines(invoice), invoice.status, invoice.recurring) == ([(SEAT, 3, 2000)], "paid", False)
    assert april.unbilled("sub-acme") == []
    with_deleted = april.cb.UnbilledCharge.list({"subscription_id": {"is": "sub-acme"}, "include_deleted": True})
    assert [e.unbilled_charge.deleted for e in with_deleted.list] == [True]
    assert april.cb.UnbilledCharge.invoice_unbilled_charges({"subscription_id": "sub-acme"}).invoices == []
    assert "unbilled_charges_invoiced" in april.event_types()


def test_estimate_previews_without_changing_anything(april):
    april.travel(2026, 4, 21, 8)
    est = april.cb.Estimate.update_subscription_for_items(
        {"subscription": {"id": "sub-acme"}, "subscription_items": [{"item_price_id": SEAT, "quantity": 3}],
         "prorate": True, "invoice_immediately": True}).estimate
    # A downgrade: no invoice_estimate, a credit note estimate of 2 x 1000 x 10/30 -> 667.
    assert est.invoice_estimate is None
    assert [(c.type, c.total) for c in est.credit_note_estimates] == [("refundable", 667)]
    assert (est.next_invoice_estimate.total, est.next_invoice_estimate.credits_applied) == (3000, 667)
    up = april.cb.Estimate.update_subscription_for_items(
        {"subscription": {"id": "sub-acme"}, "subscription_items": [{"item_price_id": SEAT, "quantity": 8}],
         "prorate": True, "invoice_immediately": False}).estimate
    assert [(u.quantity, u.amount) for u in up.unbilled_charge_estimates] == [(3, 1000)]
    now = april.cb.Estimate.update_subscription_for_items(
        {"subscription": {"id": "sub-acme"}, "subscription_items": [{"item_price_id": SEAT, "quantity": 8}],
         "prorate": True, "invoice_immediately": True}).estimate
    assert (now.invoice_estimate.total, now.invoice_estimate.amount_due, now.unbilled_charge_estimates) == \
        (1000, 1000, None)
    assert [(li.entity_id, li.quantity, li.date_from) for li in now.invoice_estimate.line_items] == \
        [(SEAT, 3, ts(2026, 4, 21))]
    sub = april.cb.Subscription.retrieve("sub-acme").subscription
    assert sub.subscription_items[0].quantity == 5
    assert april.credit_notes("sub-acme") == [] and april.unbilled("sub-acme") == []
    with pytest.raises(InvalidRequestError) as missing:
        april.cb.Estimate.update_subscription_for_items({"subscription_items": [{"item_price_id": SEAT}]})
    assert missing.value.param == "subscription[id]"


def test_events_retrieve_list_filter_and_page(april):
    april.travel(2026, 4, 11, 14)
    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    after_creation = ts(2026, 4, 1, 9)
    assert april.event_types(after=after_creation) == ["unbilled_charges_created", "subscription_changed"]
    first_page = april.cb.Event.list({"limit": 2, "sort_by": {"asc": "occurred_at"}})
    assert len(first_page.list) == 2 and first_page.next_offset
    rest = april.cb.Event.list({"limit": 100, "offset": first_page.next_offset, "sort_by": {"asc": "occurred_at"}})
    everything = [e.event.id for e in first_page.list + rest.list]
    assert len(everything) == len(set(everything)) == len(april.event_types())
    changed = april.cb.Event.list({"event_type": {"is": "subscription_changed"}}).list[0].event
    fetched = april.cb.Event.retrieve(changed.id).event
    assert (fetched.api_version, fetched.object if hasattr(fetched, "object") else "event", fetched.source) == \
        ("v2", "event", "api")
    assert fetched.occurred_at == ts(2026, 4, 11, 14)
    assert fetched.content["subscription"]["subscription_items"][0]["quantity"] == 8
    assert fetched.content["unbilled_charges"][0]["amount"] == 2000


def test_payments_follow_the_customer_test_card(site):
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.customer("declined", card="4000000000000002")
    site.subscribe("declined", "sub-declined", [(SEAT, 2)])
    [invoice] = site.invoices("sub-declined")
    assert (invoice.status, invoice.amount_due, invoice.dunning_status) == ("payment_due", 2000, "in_progress")
    assert "payment_failed" in site.event_types()
    with pytest.raises(PaymentError) as declined:
        site.cb.Invoice.collect_payment(invoice.id)
    assert (declined.value.http_status_code, declined.value.api_error_code, declined.value.type) == \
        (400, "payment_processing_failed", "payment")
    site.control("customers/declined/payment_method", {"outcome": "succeed"})
    before = site.cb.Subscription.retrieve("sub-declined").subscription
    assert (before.due_invoices_count, before.due_since) == (1, ts(2026, 4, 1, 9))
    paid = site.cb.Invoice.collect_payment(invoice.id)
    assert (paid.invoice.status, paid.invoice.amount_paid, paid.transaction.status) == ("paid", 2000, "success")
    assert site.event_types().count("payment_failed") == 2
    assert site.event_types()[-2:] == ["payment_succeeded", "invoice_updated"]
    # What is due is a subscription attribute: the payment bumps the subscription, and the
    # event's snapshot shows the state after the payment.
    after = site.cb.Subscription.retrieve("sub-declined").subscription
    assert after.due_invoices_count == 0 and after.due_since is None
    assert after.resource_version > before.resource_version
    succeeded = site.cb.Event.list({"event_type": {"is": "payment_succeeded"}}).list[0].event
    assert succeeded.content["subscription"]["due_invoices_count"] == 0
    assert succeeded.content["subscription"]["resource_version"] == after.resource_version
