"""Customers, items and item prices (Product Catalog 2.0)."""

from __future__ import annotations

import re

from .. import params as p
from ..errors import ChargebeeError, not_found, wrong_value
from .events import record
from .render import render_customer
from ..state import ChargebeeState
from ..terms import PERIOD_UNITS

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-@~]{1,100}$")

# The sandbox's test gateway. Chargebee's own test card list is not in the
# reference, so this is a sandbox convention (documented in CHARGEBEE.md):
# these numbers decline, any other card number is charged successfully.
DECLINING_CARDS = frozenset({"4000000000000002", "4000000000000341"})

SUPPORTED_PRICING = ("per_unit", "flat_fee")
ALL_PRICING = ("flat_fee", "per_unit", "tiered", "volume", "stairstep")


def _new_id(state: ChargebeeState, params: dict, kind: str, store: dict, label: str = "id") -> str:
    given = p.string(params, "id", wire=label)
    if given is None:
        return state.next_id(kind)
    if not ID_PATTERN.match(given):
        raise wrong_value(label, f"{label} : invalid value {given!r}")
    if given in store:
        raise ChargebeeError(400, "duplicate_entry", f"The value {given} is already present.", param=label)
    return given


# customers ---------------------------------------------------------------------


def create_customer(state: ChargebeeState, params: dict) -> dict:
    customer_id = _new_id(state, params, "cust", state.customers)
    card = params.get("card") or {}
    if not isinstance(card, dict):
        raise wrong_value("card", "card must be sent as card[field]")
    number = p.string(card, "number", wire="card[number]")
    if number is not None and not re.fullmatch(r"\d{12,19}", number):
        raise wrong_value("card[number]", "card[number] : invalid card number")
    auto_collection = p.string(params, "auto_collection", "on", choices=("on", "off"))
    customer = {
        "id": customer_id, "first_name": p.string(params, "first_name"), "last_name": p.string(params, "last_name"),
        "email": p.string(params, "email"), "company": p.string(params, "company"),
        "auto_collection": auto_collection, "net_term_days": p.integer(params, "net_term_days", 0, minimum=0),
        "allow_direct_debit": False, "created_at": state.now, "taxability": "taxable", "pii_cleared": "active",
        "channel": "web", "deleted": False, "object": "customer", "card_status": "valid" if number else "no_card",
        "promotional_credits": 0, "refundable_credits": 0, "excess_payments": 0, "unbilled_charges": 0,
        "preferred_currency_code": p.string(params, "preferred_currency_code", "USD"),
        "_card_number": number,
    }
    meta = p.json_object(params, "meta_data")
    if meta is not None:
        customer["meta_data"] = meta
    customer = {k: v for k, v in customer.items() if v is not None or k == "_card_number"}
    if number:
        customer["primary_payment_source_id"] = f"pm_{customer_id}"
        customer["payment_method"] = {"type": "card", "reference_id": f"tok_{customer_id}", "gateway": "chargebee",
                                      "gateway_account_id": "gw_sandbox", "status": "valid", "object": "payment_method"}
    state.touch(customer)
    state.customers[customer_id] = customer
    record(state, "customer_created", {"customer": render_customer(state, customer)})
    return customer


def get_customer(state: ChargebeeState, customer_id: str, param: str = "customer_id") -> dict:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise not_found(param, f"Sorry, we couldn't find that resource: customer {customer_id}")
    return customer


def set_payment_outcome(state: ChargebeeState, customer_id: str, outcome: str) -> dict:
    """Control API: give a customer a succeeding, declining or no test card."""
    customer = get_customer(state, customer_id)
    numbers = {"succeed": "4111111111111111", "decline": "4000000000000002", "none": None}
    if outcome not in numbers:
        raise wrong_value("outcome", "outcome must be succeed, decline or none")
    customer["_card_number"] = numbers[outcome]
    customer["card_status"] = "no_card" if numbers[outcome] is None else "valid"
    state.touch(customer)
    return customer


# items and item prices ------------------------------------------------------------


def create_item(state: ChargebeeState, params: dict) -> dict:
    item_id = p.required(p.string(params, "id", max_length=100), "id")
    if item_id in state.items:
        raise ChargebeeError(400, "duplicate_entry", f"The value {item_id} is already present.", param="id")
    item = {
        "id": item_id, "name": p.required(p.string(params, "name", max_length=100), "name"),
        "type": p.required(p.string(params, "type", choices=("plan", "addon", "charge")), "type"),
        "item_family_id": p.string(params, "item_family_id", "sandbox-family"),
        "external_name": p.string(params, "external_name"), "description": p.string(params, "description"),
        "unit": p.string(params, "unit"),
        "status": "active", "is_shippable": False, "is_giftable": False, "enabled_for_checkout": True,
        "enabled_in_portal": True, "item_applicability": "all", "metered": False, "channel": "web",
        "deleted": False, "object": "item",
    }
    item = {k: v for k, v in item.items() if v is not None}
    state.touch(item)
    state.items[item_id] = item
    return item


def get_item(state: ChargebeeState, item_id: str) -> dict:
    item = state.items.get(item_id)
    if item is None:
        raise not_found("item_id", f"Sorry, we couldn't find that resource: item {item_id}")
    return item


def create_item_price(state: ChargebeeState, params: dict) -> dict:
    price_id = p.required(p.string(params, "id", max_length=100), "id")
    if price_id in state.item_prices:
        raise ChargebeeError(400, "duplicate_entry", f"The value {price_id} is already present.", param="id")
    # Required by chargebee-python's ItemPrice.CreateParams (name: Required[str]); at most 100 characters
    # like the item's name (sandbox reading). Uniqueness of item price names is not enforced.
    name = p.required(p.string(params, "name", max_length=100), "name")
    item = get_item(state, p.required(p.string(params, "item_id"), "item_id"))
    pricing_model = p.string(params, "pricing_model", "flat_fee", choices=ALL_PRICING)
    if pricing_model not in SUPPORTED_PRICING:
        raise ChargebeeError(400, "configuration_incompatible",
                             f"pricing_model {pricing_model} is not supported by the sandbox (per_unit and flat_fee are)",
                             param="pricing_model")
    price = p.required(p.integer(params, "price", minimum=0), "price")
    period = p.integer(params, "period", minimum=1)
    period_unit = p.string(params, "period_unit", choices=PERIOD_UNITS)
    if item["type"] in ("plan", "addon"):
        p.required(period, "period")
        p.required(period_unit, "period_unit")
    elif period is not None or period_unit is not None:
        raise wrong_value("period", "period cannot be set for a charge item price")
    currency = p.string(params, "currency_code", "USD")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise wrong_value("currency_code", "currency_code : invalid value")
    proration_type = p.string(params, "proration_type", "site_default",
                              choices=("site_default", "partial_term", "full_term"))
    item_price = {
        "id": price_id, "name": name, "item_family_id": item["item_family_id"],
        "item_id": item["id"], "item_type": item["type"], "status": "active", "external_name": p.string(params, "external_name", item["name"]),
        "pricing_model": pricing_model, "price": price, "currency_code": currency,
        "free_quantity": p.integer(params, "free_quantity", 0, minimum=0), "is_taxable": True,
        "created_at": state.now, "channel": "web", "object": "item_price",
    }
    if period is not None:
        item_price.update(period=period, period_unit=period_unit)
    if item["type"] == "addon" and pricing_model == "per_unit":
        item_price["proration_type"] = proration_type
    state.touch(item_price)
    state.item_prices[price_id] = item_price
    return item_price


def get_item_price(state: ChargebeeState, price_id: str, param: str = "item_price_id") -> dict:
    item_price = state.item_prices.get(price_id)
    if item_price is None:
        raise not_found(param, f"Sorry, we couldn't find that resource: item_price {price_id}")
    return item_price


def payment_succeeds(customer: dict) -> bool | None:
    """None: no payment method on file; else whether the test card is charged."""
    number = customer.get("_card_number")
    if not number:
        return None
    return number not in DECLINING_CARDS
