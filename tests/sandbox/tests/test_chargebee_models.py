"""Every object the Chargebee sandbox renders has only the fields chargebee-python 3 declares for it.

The models are the SDK's ``chargebee.models.<resource>.responses.<Resource>Response`` dataclasses,
walked recursively through their nested models (subscription items, line items, allocations, ...).
The one key the models never declare is ``object``, which every API v2 object carries (the MOCK
captures and the apidocs samples in reference chargebee.md §0 show it); it is allowed.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import typing

import httpx
import pytest

from tests.sandbox.chargebee.testing import SEAT

PLURALS = {"invoices": "invoice", "credit_notes": "credit_note", "unbilled_charges": "unbilled_charge"}


def _model(resource: str) -> type:
    class_name = "".join(part.title() for part in resource.split("_")) + "Response"
    return getattr(importlib.import_module(f"chargebee.models.{resource}.responses"), class_name)


def undeclared(obj: dict, model: type, path: str) -> list[str]:
    hints = typing.get_type_hints(model)
    found = []
    for key, value in obj.items():
        if key == "object":
            continue
        if key not in hints:
            found.append(f"{path}.{key}")
            continue
        hint = hints[key]
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
        if not dataclasses.is_dataclass(inner):
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                found += undeclared(item, inner, f"{path}.{key}[{i}]" if isinstance(value, list) else f"{path}.{key}")
    return found


def undeclared_in_answer(body: dict, path: str = "") -> list[str]:
    """``body`` as the API answers it (``{resource: object}``, lists of those, or an event's content)."""
    found = []
    for key, value in body.items():
        if key == "list":
            for entry in value:
                found += undeclared_in_answer(entry, path)
            continue
        if key == "next_offset":
            continue
        resource = PLURALS.get(key, key)
        for obj in value if isinstance(value, list) else [value]:
            found += undeclared(obj, _model(resource), f"{path}{resource}")
            if resource == "event":
                found += undeclared_in_answer(obj["content"], f"{path}event[{obj['event_type']}].content.")
    return found


@pytest.fixture
def busy_site(site):
    """Every kind of object: plan, addon and charge prices; paid, unpaid, renewal and unbilled-charge
    invoices; adjustment and refundable credit notes with allocations; open, voided and invoiced
    unbilled charges; failed and successful transactions."""
    site.settings(billing_mode="day")
    site.start(2026, 4, 1, 9)
    site.price(SEAT, "plan", 1000)
    site.price("addon-USD", "addon", 500)
    site.price("setup-USD", "charge", 9900, model="flat_fee", period=None, unit=None)
    site.customer("acme")
    site.customer("nocard", card=None)
    site.subscribe("acme", "sub-acme", [(SEAT, 5), ("addon-USD", 2), ("setup-USD", None)])
    site.subscribe("nocard", "sub-nocard", [(SEAT, 5)])
    site.travel(2026, 4, 11, 14)
    site.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False)
    site.change("sub-acme", [(SEAT, 9)], prorate=True, invoice_immediately=False)
    site.change("sub-acme", [("addon-USD", 1)], prorate=True, invoice_immediately=True)
    site.change("sub-nocard", [(SEAT, 3)], prorate=True, invoice_immediately=True)
    site.cb.UnbilledCharge.invoice_unbilled_charges({"subscription_id": "sub-acme"})
    site.change("sub-acme", [(SEAT, 10)], prorate=True, invoice_immediately=False)
    site.travel(2026, 5, 1, 10)
    site.control("customers/nocard/payment_method", {"outcome": "decline"})
    return site


def test_every_rendered_object_has_only_declared_fields(busy_site):
    cb = busy_site.cb
    auth = {"Authorization": "Basic " + base64.b64encode(b"test_sandbox:").decode()}

    def get(path: str, **params) -> dict:
        response = httpx.get(f"{busy_site.sandbox.url}/api/v2{path}", params=params, headers=auth, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    answers = [get(path, limit=100) for path in ("/customers", "/items", "/item_prices", "/subscriptions",
                                                 "/invoices", "/credit_notes", "/events", "/unbilled_charges")]
    answers += [get("/unbilled_charges", is_voided="true"), get("/unbilled_charges", include_deleted="true"),
                get("/time_machines/delorean"), get("/customers/acme"), get("/subscriptions/sub-acme")]
    unpaid = [inv for inv in busy_site.invoices("sub-nocard") if inv.amount_due]
    with pytest.raises(Exception):
        cb.Invoice.collect_payment(unpaid[0].id)  # declined: a failed transaction
    busy_site.control("customers/nocard/payment_method", {"outcome": "succeed"})
    paid = cb.Invoice.collect_payment(unpaid[0].id)
    answers.append({"invoice": paid.invoice.raw_data, "transaction": paid.transaction.raw_data})
    for invoice_now in (True, False):
        estimate = cb.Estimate.update_subscription_for_items(
            {"subscription": {"id": "sub-acme"}, "subscription_items": [{"item_price_id": SEAT, "quantity": 6}],
             "prorate": True, "invoice_immediately": invoice_now}).estimate
        answers.append({"estimate": estimate.raw_data})
    changed = busy_site.change("sub-acme", [(SEAT, 12)], prorate=True, invoice_immediately=False)
    answers.append({"subscription": changed.subscription.raw_data, "customer": changed.customer.raw_data,
                    "unbilled_charges": [uc.raw_data for uc in changed.unbilled_charges]})
    answers.append(get("/events", limit=100))

    kinds = {key for answer in answers for entry in answer.get("list", [answer]) for key in entry}
    assert {"customer", "item", "item_price", "subscription", "invoice", "credit_note", "unbilled_charge",
            "transaction", "event", "time_machine", "estimate"} <= kinds
    assert [problem for answer in answers for problem in undeclared_in_answer(answer)] == []


def test_unbilled_charges_carry_updated_at_and_no_resource_version(april):
    april.travel(2026, 4, 11, 14)
    [charge] = april.change("sub-acme", [(SEAT, 8)], prorate=True, invoice_immediately=False).unbilled_charges
    assert "resource_version" not in charge.raw_data
    assert (charge.created_at, charge.updated_at) == (charge.date_from + 14 * 3600, charge.date_from + 14 * 3600)
