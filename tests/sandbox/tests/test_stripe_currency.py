"""Stripe sandbox currencies: customers and invoices follow the prices billed; amounts read with the
currency's ISO 4217 minor-unit exponent (¥1000 is ¥1,000, never 10.00 JPY).

Driven through stripe-python 16 and read back in its declared shapes (``Customer.currency``,
``Invoice.currency``, ``InvoiceLineItem.description``).
"""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.stripe.currency import exponent, format_amount
from tests.support.sandbox_fixtures import stripe_customer_on_clock

SEP_1_2020 = 1598918400


@pytest.mark.parametrize("amount, currency, shown", [
    (1000, "usd", "$10.00"), (123456789, "usd", "$1,234,567.89"), (-500, "usd", "-$5.00"), (5, "eur", "€0.05"),
    (1000, "jpy", "¥1,000"), (1000, "krw", "1,000 KRW"), (15000, "clp", "15,000 CLP"), (1500, "vnd", "1,500 VND"),
    (1000, "kwd", "1.000 KWD"), (1500, "bhd", "1.500 BHD"), (1234567, "jod", "1,234.567 JOD"),
    (12345, "clf", "1.2345 CLF"), (99, "sek", "0.99 SEK"),
])
def test_amounts_read_with_the_currency_exponent(amount, currency, shown):
    assert format_amount(amount, currency) == shown
    assert format_amount(amount, currency.upper()) == shown


def test_iso_4217_exponents():
    assert [exponent(c) for c in ("usd", "JPY", "krw", "isk", "xof", "kwd", "bhd", "tnd", "clf", "eur")] == \
        [2, 0, 0, 0, 0, 3, 3, 3, 4, 2]


def _price(client, name: str, unit_amount: int, currency: str):
    product = client.v1.products.create({"name": name})
    return client.v1.prices.create({"product": product.id, "unit_amount": unit_amount, "currency": currency,
                                    "recurring": {"interval": "month"}})


def test_a_jpy_subscription_bills_in_jpy(stripe_client):
    client = stripe_client
    clock, customer = stripe_customer_on_clock(client, SEP_1_2020)
    assert customer.currency is None  # a new customer has no currency yet
    seat = _price(client, "Seat", 1000, "jpy")
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]})
    assert (sub.currency, client.v1.customers.retrieve(customer.id).currency) == ("jpy", "jpy")
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    [line] = first.lines.data
    assert (first.currency, first.total, line.currency, line.amount) == ("jpy", 3000, "jpy", 3000)
    assert line.description == "3 × Seat (at ¥1,000 / month)"
    client.v1.subscription_items.update(sub["items"].data[0].id, {"quantity": 5,
                                                                  "proration_behavior": "always_invoice"})
    update = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert update.currency == "jpy" and {li.currency for li in update.lines.data} == {"jpy"}
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": SEP_1_2020 + 31 * 86400})
    renewal = client.v1.invoices.list({"subscription": sub.id, "limit": 1}).data[0]
    assert (renewal.billing_reason, renewal.currency, renewal.lines.data[-1].description) == \
        ("subscription_cycle", "jpy", "5 × Seat (at ¥1,000 / month)")


@pytest.mark.parametrize("currency, unit_amount, shown", [
    ("krw", 15000, "2 × Seat (at 15,000 KRW / month)"), ("kwd", 1500, "2 × Seat (at 1.500 KWD / month)"),
    ("bhd", 2250, "2 × Seat (at 2.250 BHD / month)"), ("usd", 123456, "2 × Seat (at $1,234.56 / month)"),
])
def test_line_descriptions_in_zero_and_three_decimal_currencies(stripe_client, currency, unit_amount, shown):
    _, customer = stripe_customer_on_clock(stripe_client, SEP_1_2020)
    seat = _price(stripe_client, "Seat", unit_amount, currency)
    sub = stripe_client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id,
                                                                                    "quantity": 2}]})
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.currency, invoice.total, invoice.lines.data[0].description) == (currency, 2 * unit_amount, shown)


def test_a_customer_holds_one_currency(stripe_client):
    client = stripe_client
    customer = client.v1.customers.create({"email": "yen@example.com", "payment_method": "pm_card_visa"})
    client.v1.customers.balance_transactions.create(customer.id, {"amount": -500, "currency": "jpy"})
    assert client.v1.customers.retrieve(customer.id).currency == "jpy"
    with pytest.raises(stripe.InvalidRequestError) as other_balance:
        client.v1.customers.balance_transactions.create(customer.id, {"amount": -500, "currency": "usd"})
    assert other_balance.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as other_sub:
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": _price(client, "S", 1000,
                                                                                            "usd").id}]})
    assert other_sub.value.param == "items"
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": _price(client, "Y", 1000,
                                                                                              "jpy").id}]})
    with pytest.raises(stripe.InvalidRequestError) as other_price:
        client.v1.subscriptions.update(sub.id, {"items": [{"id": sub["items"].data[0].id,
                                                           "price": _price(client, "U", 1000, "usd").id}]})
    assert other_price.value.param == "items[0][price]"
    assert client.v1.subscriptions.retrieve(sub.id)["items"].data[0].price.currency == "jpy"
