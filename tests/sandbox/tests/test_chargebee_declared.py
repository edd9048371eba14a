"""Chargebee sandbox: parameters are checked against the shapes chargebee-python 3 declares.

The shapes are the SDK's own params TypedDicts (``chargebee.models.*.operations``); the sandbox
accepts what they declare and refuses the rest with 400 ``param_wrong_value`` naming the wire
parameter, nothing stored.
"""

from __future__ import annotations

import typing

import pytest
from chargebee import InvalidRequestError
from chargebee.filters import Filters
from chargebee.models.unbilled_charge.operations import UnbilledCharge

from tests.sandbox.chargebee.testing import SEAT, ts


def test_the_sdk_declares_is_voided_a_plain_boolean():
    hints = UnbilledCharge.ListParams.__annotations__
    assert hints["is_voided"] == typing.NotRequired[bool]
    assert hints["subscription_id"] == typing.NotRequired[Filters.StringFilter]


def test_unbilled_charges_filter_on_the_declared_boolean_is_voided(april):
    april.travel(2026, 4, 11, 14)
    april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    april.travel(2026, 4, 21, 8)
    april.change("sub-acme", [(SEAT, 6)], prorate=True, invoice_immediately=False)

    def amounts(**params):
        found = april.cb.UnbilledCharge.list({"subscription_id": {"is": "sub-acme"}, "limit": 100, **params})
        return sorted((e.unbilled_charge.amount, e.unbilled_charge.is_voided) for e in found.list)

    # 3 seats Apr 11-20 (1000) and 1 seat Apr 21-30 (333) replaced the voided 2000 (3 seats Apr 11-30).
    assert amounts(is_voided=True) == [(2000, True)]
    assert amounts(is_voided=False) == amounts() == [(333, False), (1000, False)]
    assert [e.unbilled_charge.date_from for e in april.cb.UnbilledCharge.list({"is_voided": True}).list] == \
        [ts(2026, 4, 11)]


def test_the_is_voided_is_filter_form_is_refused_as_undeclared(april):
    with pytest.raises(InvalidRequestError) as refused:
        april.cb.UnbilledCharge.list({"subscription_id": {"is": "sub-acme"}, "is_voided": {"is": "true"}})
    assert (refused.value.http_status_code, refused.value.api_error_code, refused.value.type, refused.value.param) \
        == (400, "param_wrong_value", "invalid_request", "is_voided[is]")
    with pytest.raises(InvalidRequestError) as bad_bool:
        april.cb.UnbilledCharge.list({"is_voided": "maybe"})
    assert bad_bool.value.param == "is_voided"


def test_other_undeclared_parameters_are_refused_the_same_way_and_store_nothing(april):
    before = april.cb.Subscription.retrieve("sub-acme").subscription.resource_version
    with pytest.raises(InvalidRequestError) as item_field:
        april.cb.Subscription.update_for_items("sub-acme", {"subscription_items": [
            {"item_price_id": SEAT, "quantity": 6, "seats": 6}], "prorate": True})
    assert (item_field.value.api_error_code, item_field.value.param) == \
        ("param_wrong_value", "subscription_items[seats][0]")
    with pytest.raises(InvalidRequestError) as top_level:
        april.cb.Customer.create({"id": "c2", "nickname": "x"})
    assert top_level.value.param == "nickname"
    with pytest.raises(InvalidRequestError) as operator:
        april.cb.Invoice.list({"subscription_id": {"matches": "sub-acme"}})
    assert operator.value.param == "subscription_id[matches]"
    after = april.cb.Subscription.retrieve("sub-acme").subscription
    assert after.resource_version == before and after.subscription_items[0].quantity == 5
    assert [e.customer.id for e in april.cb.Customer.list().list] == ["acme"]


def test_an_item_price_needs_a_name_as_the_sdk_declares(site):
    from chargebee.models.item_price.operations import ItemPrice

    assert ItemPrice.CreateParams.__annotations__["name"] == typing.Required[str]
    site.start(2026, 4, 1)
    site.cb.Item.create({"id": "item-seat", "name": "Seat", "type": "plan"})
    with pytest.raises(InvalidRequestError) as missing:
        site.cb.ItemPrice.create({"id": SEAT, "item_id": "item-seat", "pricing_model": "per_unit", "price": 1000,
                                  "period": 1, "period_unit": "month"})
    # Chargebee's shape for a missing required parameter (chargebee/chargebee-python#54, a live test site).
    error = missing.value
    assert (error.http_status_code, error.type, error.api_error_code, error.param, str(error)) == \
        (400, "invalid_request", "invalid_request", "name", "name : cannot be blank")
    assert (error.error_code, error.json_obj["error_msg"]) == ("param_required", "cannot be blank")
    with pytest.raises(InvalidRequestError):
        site.cb.ItemPrice.retrieve(SEAT)  # nothing was created
    created = site.cb.ItemPrice.create({"id": SEAT, "name": "Seat (monthly)", "item_id": "item-seat",
                                        "pricing_model": "per_unit", "price": 1000, "period": 1,
                                        "period_unit": "month"}).item_price
    assert (created.name, created.external_name) == ("Seat (monthly)", "Seat")
