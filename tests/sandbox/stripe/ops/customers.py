"""Customers, balance transactions, products and prices."""

from __future__ import annotations

import copy

from ..errors import StripeError
from .objects import emit, merge_metadata
from ..state import Ledger


def create_customer(ledger: Ledger, *, email=None, name=None, description=None, metadata=None, test_clock=None,
                    payment_method=None, balance=0) -> dict:
    if test_clock is not None:
        ledger.get(ledger.clocks, "test clock", test_clock, "test_clock")
    customer_id = ledger.new_id("cus")
    created = ledger.clocks[test_clock]["frozen_time"] if test_clock else ledger.default_time
    customer = {"id": customer_id, "object": "customer", "address": None, "balance": balance,
                "created": created, "currency": None, "default_source": None, "delinquent": False,
                "description": description, "discount": None, "email": email,
                "invoice_prefix": customer_id[-8:].upper(),
                "invoice_settings": {"custom_fields": None, "default_payment_method": payment_method,
                                     "footer": None, "rendering_options": None},
                "livemode": False, "metadata": metadata or {}, "name": name, "phone": None,
                "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": test_clock}
    ledger.customers[customer_id] = customer
    emit(ledger, "customer.created", customer)
    return customer


def update_customer(ledger: Ledger, customer: dict, *, email=None, name=None, description=None, metadata=None,
                    payment_method=None) -> dict:
    previous = {}
    for key, value in (("email", email), ("name", name), ("description", description)):
        if value is not None and customer[key] != value:
            previous[key] = customer[key]
            customer[key] = value
    if metadata is not None:
        previous["metadata"] = dict(customer["metadata"])
        customer["metadata"] = merge_metadata(customer["metadata"], metadata)
    if payment_method is not None:
        previous["invoice_settings"] = copy.deepcopy(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = payment_method or None
    emit(ledger, "customer.updated", customer, previous)
    return customer


def charge_in(customer: dict, currency: str, param: str) -> None:
    """The customer's currency is the first one it is charged or credited in (stripe-python:
    a balance transaction's currency "If the customer's `currency` is not set, it will be updated
    to this value"); a customer holds one currency, so another one is refused (Stripe's wording
    for that refusal is not in the reference: unverified)."""
    if customer["currency"] is None:
        customer["currency"] = currency
    elif customer["currency"] != currency:
        raise StripeError.invalid(f"You cannot combine currencies on a single customer. This customer has "
                                  f"{customer['currency']} set and {currency} was given.", param=param)


def add_balance_transaction(ledger: Ledger, customer: dict, amount: int, type_: str, *, description=None,
                            invoice=None) -> dict:
    customer["balance"] += amount
    txn = {"id": ledger.new_id("cbtxn"), "object": "customer_balance_transaction", "amount": amount,
           "checkout_session": None, "created": ledger.now(customer["id"]), "credit_note": None,
           "currency": customer["currency"], "customer": customer["id"], "customer_account": None,
           "description": description, "ending_balance": customer["balance"], "invoice": invoice,
           "livemode": False, "metadata": {}, "type": type_}
    ledger.balance_transactions[txn["id"]] = txn
    return txn


def create_product(ledger: Ledger, *, name, product_id=None, description=None, metadata=None, active=True) -> dict:
    product_id = product_id or ledger.new_id("prod")
    if product_id in ledger.products:
        raise StripeError.state("Product already exists.", param="id")
    product = {"id": product_id, "object": "product", "active": active, "created": ledger.default_time,
               "default_price": None, "description": description, "images": [], "livemode": False,
               "marketing_features": [], "metadata": metadata or {}, "name": name, "package_dimensions": None,
               "shippable": None, "statement_descriptor": None, "tax_code": None, "type": "service",
               "unit_label": None, "updated": ledger.default_time, "url": None}
    ledger.products[product_id] = product
    emit(ledger, "product.created", product, at=ledger.default_time)
    return product


def create_price(ledger: Ledger, *, product, unit_amount, currency, interval, interval_count=1, nickname=None,
                 lookup_key=None, metadata=None) -> dict:
    ledger.get(ledger.products, "product", product, "product")
    price = {"id": ledger.new_id("price"), "object": "price", "active": True, "billing_scheme": "per_unit",
             "created": ledger.default_time, "currency": currency, "custom_unit_amount": None,
             "livemode": False, "lookup_key": lookup_key, "metadata": metadata or {}, "nickname": nickname,
             "product": product,
             "recurring": {"interval": interval, "interval_count": interval_count, "meter": None,
                           "trial_period_days": None,
                           "usage_type": "licensed"},
             "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
             "type": "recurring", "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount)}
    ledger.prices[price["id"]] = price
    emit(ledger, "price.created", price, at=ledger.default_time)
    return price

