"""Stripe sandbox endpoints, object shapes and error shapes, through the official SDK only."""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.sandbox_fixtures import stripe_customer_on_clock, stripe_price

DAY = 86400
SEP_1_2020 = 1598918400
OCT_1_2020 = 1601510400


@pytest.fixture
def seated(stripe_client):
    """A customer on a clock at 2020-09-01 with a $49 base + 5 × $10 seats subscription."""
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020, email="ops@example.com")
    base, seat = stripe_price(client, "Base", 4900), stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "metadata": {"account": "acme"},
                                          "items": [{"price": base.id}, {"price": seat.id, "quantity": 5}]})
    return {"client": client, "clock": clock, "customer": customer, "base": base, "seat": seat, "sub": sub,
            "base_item": sub["items"].data[0], "seat_item": sub["items"].data[1]}


def test_customer_create_retrieve_update_and_balance_transactions(stripe_client):
    client = stripe_client
    customer = client.v1.customers.create({"email": "a@example.com", "name": "Acme", "metadata": {"k": "v"}})
    assert customer.id.startswith("cus_") and customer.balance == 0 and customer.test_clock is None
    assert client.v1.customers.retrieve(customer.id).email == "a@example.com"
    updated = client.v1.customers.update(customer.id, {"metadata": {"k": "", "x": "y"}, "name": "Acme Inc"})
    assert updated.metadata.to_dict() == {"x": "y"} and updated.name == "Acme Inc"
    txn = client.v1.customers.balance_transactions.create(customer.id, {"amount": -1500, "currency": "usd",
                                                                       "description": "goodwill"})
    assert (txn.object, txn.type, txn.ending_balance) == ("customer_balance_transaction", "adjustment", -1500)
    client.v1.customers.balance_transactions.create(customer.id, {"amount": 200, "currency": "usd"})
    listed = client.v1.customers.balance_transactions.list(customer.id)
    assert [t.amount for t in listed.data] == [200, -1500]
    assert client.v1.customers.retrieve(customer.id).balance == -1300
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


def test_products_and_prices(stripe_client):
    client = stripe_client
    product = client.v1.products.create({"name": "Seat", "id": "prod_seat"})
    assert client.v1.products.retrieve("prod_seat").name == "Seat"
    yearly = client.v1.prices.create({"product": product.id, "unit_amount": 12000, "currency": "usd",
                                      "recurring": {"interval": "year"}, "lookup_key": "seat_yearly"})
    got = client.v1.prices.retrieve(yearly.id)
    assert (got.unit_amount, got.recurring.interval, got.recurring.interval_count, got.type) == (
        12000, "year", 1, "recurring")
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.prices.create({"product": product.id, "unit_amount": 1, "currency": "usd",
                                 "recurring": {"interval": "fortnight"}})
    assert bad.value.param == "recurring[interval]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.create({"product": product.id, "currency": "usd", "recurring": {"interval": "month"}})
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "unit_amount")


def test_subscription_shape_follows_the_endive_api(seated):
    client, sub = seated["client"], seated["sub"]
    got = client.v1.subscriptions.retrieve(sub.id)
    assert (got.status, got.customer, got.test_clock) == ("active", seated["customer"].id, seated["clock"].id)
    assert got.metadata.to_dict() == {"account": "acme"}
    assert got.billing_mode.type == "flexible"
    # Since basil the period lives on each item (reference §1).
    assert "current_period_end" not in got
    for item in got["items"].data:
        assert (item.current_period_start, item.current_period_end) == (SEP_1_2020, OCT_1_2020)
        assert item.price.object == "price" and item.subscription == sub.id
    invoice = client.v1.invoices.retrieve(got.latest_invoice)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert (invoice.billing_reason, invoice.total, invoice.amount_paid) == ("subscription_create", 9900, 9900)
    line = invoice.lines.data[1]
    assert line.parent.type == "subscription_item_details"
    assert line.parent.subscription_item_details.subscription_item == seated["seat_item"].id
    assert line.parent.subscription_item_details.proration is False
    assert line.pricing.price_details.price == seated["seat"].id
    assert (line.amount, line.quantity, line.description) == (5000, 5, "5 × Seat (at $10.00 / month)")
    expanded = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice", "customer"]})
    assert expanded.latest_invoice.id == invoice.id and expanded.customer.email == "ops@example.com"


def test_listing_subscriptions(seated):
    client = seated["client"]
    listed = client.v1.subscriptions.list({"customer": seated["customer"].id})
    assert [s.id for s in listed.data] == [seated["sub"].id]


def test_update_adds_removes_and_reprices_items(seated):
    client, sub = seated["client"], seated["sub"]
    addon = stripe_price(client, "Addon", 300)
    cheaper = stripe_price(client, "Seat v2", 800)
    client.v1.test_helpers.test_clocks.advance(seated["clock"].id, {"frozen_time": SEP_1_2020 + 15 * DAY})
    updated = client.v1.subscriptions.update(sub.id, {
        "items": [{"id": seated["base_item"].id, "deleted": True},
                  {"id": seated["seat_item"].id, "price": cheaper.id},  # no quantity: resets to 1 (reference §1)
                  {"price": addon.id, "quantity": 2}],
        "metadata": {"plan": "v2"}})
    assert [(i.price.id, i.quantity) for i in updated["items"].data] == [(cheaper.id, 1), (addon.id, 2)]
    assert updated.metadata.to_dict() == {"account": "acme", "plan": "v2"}
    amounts = sorted(ii.amount for ii in client.v1.invoice_items.list(
        {"customer": seated["customer"].id, "pending": True}).data)
    # half of: base −4900 → −2450; seats −5000 → −2500, +800 → +400; addon +600 → +300
    assert amounts == [-2500, -2450, 300, 400]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.subscriptions.update(sub.id, {"items": [{"id": seated["base_item"].id, "quantity": 3}]})
    assert gone.value.http_status == 404


def test_metadata_only_update_creates_no_prorations(seated):
    client = seated["client"]
    client.v1.subscriptions.update(seated["sub"].id, {"metadata": {"note": "x"}})
    assert client.v1.invoice_items.list({"customer": seated["customer"].id, "pending": True}).data == []


def test_subscription_item_update_and_proration_date_bounds(seated):
    client = seated["client"]
    item = client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 6,
                                                                        "proration_date": SEP_1_2020 + 10 * DAY})
    assert item.quantity == 6 and item.object == "subscription_item"
    with pytest.raises(stripe.InvalidRequestError) as outside:
        client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 7, "proration_date": OCT_1_2020 + 1})
    assert outside.value.param == "proration_date"
    with pytest.raises(stripe.InvalidRequestError) as behavior:
        client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 7, "proration_behavior": "sometimes"})
    assert behavior.value.param == "proration_behavior"
    assert client.v1.subscription_items.retrieve(seated["seat_item"].id).quantity == 6


def test_invoice_items_list_filters(seated):
    client, customer = seated["client"], seated["customer"]
    client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 7})
    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True})
    assert len(pending.data) == 2 and all(ii.invoice is None for ii in pending.data)
    assert all(ii.parent.subscription_details.subscription == seated["sub"].id for ii in pending.data)
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": False}).data == []
    one = client.v1.invoice_items.list({"customer": customer.id, "pending": True, "limit": 1})
    assert len(one.data) == 1 and one.has_more
    rest = client.v1.invoice_items.list({"customer": customer.id, "pending": True, "starting_after": one.data[0].id})
    assert [ii.id for ii in rest.data] == [pending.data[1].id]
    assert client.v1.invoice_items.retrieve(one.data[0].id).proration is True
    # stripe-python 16 has no `subscription` filter on invoice items, so Stripe refuses it.
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.invoice_items.list({"customer": customer.id, "subscription": seated["sub"].id})
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "subscription")


def test_manual_invoice_exclude_include_finalize_pay_list(seated):
    client, customer = seated["client"], seated["customer"]
    client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 8, "proration_date": SEP_1_2020 + 15 * DAY})
    empty = client.v1.invoices.create({"customer": customer.id})  # default exclude
    assert (empty.status, empty.total, empty.lines.data) == ("draft", 0, [])
    draft = client.v1.invoices.create({"customer": customer.id, "subscription": seated["sub"].id,
                                       "pending_invoice_items_behavior": "include"})
    assert draft.total == 1500 and draft.billing_reason == "manual"  # −2500 + 4000
    assert all(line.parent.subscription_item_details.proration for line in draft.lines.data)
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert opened.status == "open" and opened.number and opened.amount_due == 1500
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.finalize_invoice(draft.id)
    paid = client.v1.invoices.pay(draft.id)
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 1500, 0)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(draft.id)
    assert client.v1.invoices.retrieve(draft.id).status == "paid"
    listed = client.v1.invoices.list({"customer": customer.id, "status": "paid"})
    assert [i.id for i in listed.data] == [draft.id, seated["sub"].latest_invoice]
    by_sub = client.v1.invoices.list({"subscription": seated["sub"].id})
    assert draft.id in [i.id for i in by_sub.data] and empty.id not in [i.id for i in by_sub.data]


def test_auto_advance_invoice_finalizes_an_hour_later_on_the_clock(seated):
    client, customer = seated["client"], seated["customer"]
    client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 9})
    invoice = client.v1.invoices.create({"customer": customer.id, "pending_invoice_items_behavior": "include",
                                         "auto_advance": True})
    client.v1.test_helpers.test_clocks.advance(seated["clock"].id, {"frozen_time": SEP_1_2020 + 1800})
    assert client.v1.invoices.retrieve(invoice.id).status == "draft"
    client.v1.test_helpers.test_clocks.advance(seated["clock"].id, {"frozen_time": SEP_1_2020 + 3600})
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_preview_matches_the_update_with_the_same_proration_date(seated):
    client, customer = seated["client"], seated["customer"]
    at = SEP_1_2020 + 7 * DAY + 3 * 3600 + 17
    details = {"items": [{"id": seated["seat_item"].id, "quantity": 11}], "proration_date": at}
    preview = client.v1.invoices.create_preview({"customer": customer.id, "subscription": seated["sub"].id,
                                                 "subscription_details": details})
    prorations = [line.amount for line in preview.lines.data if line.parent.subscription_item_details.proration]
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []  # nothing stored
    client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 11, "proration_date": at})
    actual = sorted(ii.amount for ii in client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data)
    assert sorted(prorations) == actual
    # Next-invoice preview: prorations plus next period at the new quantity.
    assert preview.total == sum(prorations) + 4900 + 11 * 1000
    immediate = client.v1.invoices.create_preview({
        "subscription": seated["sub"].id, "subscription_details": {
            "items": [{"id": seated["seat_item"].id, "quantity": 12}], "proration_behavior": "always_invoice",
            "proration_date": at}})
    assert all(line.parent.subscription_item_details.proration for line in immediate.lines.data)
    with pytest.raises(stripe.InvalidRequestError) as none_with_date:
        client.v1.invoices.create_preview({"subscription": seated["sub"].id, "subscription_details": {
            "items": [{"id": seated["seat_item"].id, "quantity": 2}], "proration_behavior": "none",
            "proration_date": at}})
    assert none_with_date.value.param == "subscription_details[proration_behavior]"


def test_events_retrieve_and_list_filters(seated):
    client = seated["client"]
    events = client.v1.events.list({"limit": 100}).data
    assert events[0].type == "customer.subscription.created"
    assert all(e.api_version == "2026-10-28.endive" for e in events)
    again = client.v1.events.retrieve(events[0].id)
    assert again.data.object.id == seated["sub"].id
    client.v1.test_helpers.test_clocks.advance(seated["clock"].id, {"frozen_time": SEP_1_2020 + 5 * DAY})
    client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 6}, {"idempotency_key": "seat-6"})
    later = client.v1.events.list({"created": {"gt": SEP_1_2020}, "limit": 100}).data
    assert {e.type for e in later} >= {"invoiceitem.created", "customer.subscription.updated"}
    assert all(e.created > SEP_1_2020 for e in later)
    updated = client.v1.events.list({"types": ["customer.subscription.updated"]}).data
    assert updated[0].request.idempotency_key == "seat-6"
    assert updated[0].data.previous_attributes["items"]["data"][1]["quantity"] == 5
    page = client.v1.events.list({"limit": 2})
    after = client.v1.events.list({"limit": 2, "starting_after": page.data[-1].id})
    assert not {e.id for e in page.data} & {e.id for e in after.data}
    wildcard = client.v1.events.list({"type": "invoice.*", "limit": 100}).data
    assert wildcard and all(e.type.startswith("invoice.") for e in wildcard)


def test_test_clock_rules(stripe_client):
    client = stripe_client
    clock, customer = stripe_customer_on_clock(stripe_client, SEP_1_2020)
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == SEP_1_2020
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 - 1})
    seat = stripe_price(client, "Seat", 1000)
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id}]})
    # At most two intervals past the shortest subscription (reference §8).
    with pytest.raises(stripe.InvalidRequestError) as too_far:
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 62 * DAY})
    assert too_far.value.param == "frozen_time"
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 61 * DAY})
    reasons = [i.billing_reason for i in client.v1.invoices.list({"customer": customer.id}).data]
    assert reasons == ["subscription_cycle", "subscription_cycle", "subscription_create"]


def test_unknown_and_unimplemented_parameters_are_refused(seated):
    client = seated["client"]
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.subscription_items.update(seated["seat_item"].id, {"quantity": 6, "seats": 6})
    assert (top.value.http_status, top.value.code, top.value.param) == (400, "parameter_unknown", "seats")
    assert top.value.user_message == "Received unknown parameter: seats"
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.subscriptions.update(seated["sub"].id, {"items": [{"id": seated["seat_item"].id, "qty": 2}]})
    assert nested.value.param == "items[0][qty]"
    with pytest.raises(stripe.InvalidRequestError) as unsupported:
        client.v1.subscriptions.update(seated["sub"].id, {"trial_end": "now"})
    assert (unsupported.value.code, unsupported.value.param) == ("parameter_unsupported", "trial_end")
    assert client.v1.subscription_items.retrieve(seated["seat_item"].id).quantity == 5


def test_errors_have_stripe_shape_over_raw_http(sandbox):
    r = requests.post(f"{sandbox.url}/v1/customers", data={"bogus": "1"},
                      headers={"Authorization": "Bearer sk_test_x"})
    assert r.status_code == 400
    assert r.json() == {"error": {"type": "invalid_request_error", "code": "parameter_unknown",
                                  "message": "Received unknown parameter: bogus", "param": "bogus"}}
    unauthenticated = requests.get(f"{sandbox.url}/v1/customers/cus_x")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["type"] == "invalid_request_error"
    assert requests.get(f"{sandbox.url}/v1/nowhere", headers={"Authorization": "Bearer sk_test_x"}).status_code == 404


def test_authentication_error_through_the_sdk(sandbox):
    client = stripe.StripeClient("sk_live_nope", base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.create({})


def test_default_clock_drives_customers_without_a_test_clock(sandbox, stripe_client):
    client = stripe_client
    start = requests.get(f"{sandbox.url}/_sandbox/stripe/clock").json()["frozen_time"]
    customer = client.v1.customers.create({"payment_method": "pm_card_visa"})
    seat = stripe_price(client, "Seat", 1000)
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 2}]})
    end = sub["items"].data[0].current_period_end
    r = requests.post(f"{sandbox.url}/_sandbox/stripe/clock/advance", json={"frozen_time": end + 7200})
    assert r.status_code == 200
    reasons = [i.billing_reason for i in client.v1.invoices.list({"customer": customer.id}).data]
    assert reasons == ["subscription_cycle", "subscription_create"] and start < end
