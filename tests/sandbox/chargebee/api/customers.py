"""``/api/v2/customers``, ``/api/v2/items``, ``/api/v2/item_prices``."""

from __future__ import annotations

from flask import Blueprint

from .http import current_state, listing, match_string, read, sorted_by, write
from ..ops import catalog
from ..ops.render import render_customer
from ..state import public

bp = Blueprint("customers", __name__)


@bp.post("/customers")
def create_customer():
    state = current_state()
    return write(lambda prm: ({"customer": render_customer(state, catalog.create_customer(state, prm))}, 200),
                 declared="Customer.CreateParams")


@bp.get("/customers/<customer_id>")
def retrieve_customer(customer_id):
    state = current_state()
    return read(lambda prm: {"customer": render_customer(state, catalog.get_customer(state, customer_id),
                                                         refresh=False)}, declared=None)


@bp.get("/customers")
def list_customers():
    state = current_state()
    return read(lambda prm: listing(sorted_by(list(state.customers.values()), prm, "created_at"), "customer", prm,
                                    lambda c: render_customer(state, c, refresh=False)),
                declared="Customer.ListParams")


@bp.post("/items")
def create_item():
    state = current_state()
    return write(lambda prm: ({"item": public(catalog.create_item(state, prm))}, 200), declared="Item.CreateParams")


@bp.get("/items/<item_id>")
def retrieve_item(item_id):
    state = current_state()
    return read(lambda prm: {"item": public(catalog.get_item(state, item_id))}, declared=None)


@bp.get("/items")
def list_items():
    state = current_state()
    return read(lambda prm: listing(list(state.items.values()), "item", prm), declared="Item.ListParams")


@bp.post("/item_prices")
def create_item_price():
    state = current_state()
    return write(lambda prm: ({"item_price": public(catalog.create_item_price(state, prm))}, 200),
                 declared="ItemPrice.CreateParams")


@bp.get("/item_prices/<price_id>")
def retrieve_item_price(price_id):
    state = current_state()
    return read(lambda prm: {"item_price": public(catalog.get_item_price(state, price_id, "item_price_id"))},
                declared=None)


@bp.get("/item_prices")
def list_item_prices():
    state = current_state()
    return read(lambda prm: listing(
        [ip for ip in state.item_prices.values() if match_string(prm, "item_id", ip["item_id"])],
        "item_price", prm), declared="ItemPrice.ListParams")
