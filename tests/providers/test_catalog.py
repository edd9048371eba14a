"""Provisioning a catalogue's prices at Chargebee: resumable and idempotent (a fake client records calls,
github-to-sqlite style; the sandbox runs the same function in tests/e2e/test_sync_matrix.py)."""

from __future__ import annotations

from chargebee.api_error import APIError

from adapter.billing.policy import load_catalog
from adapter.providers.catalog import create_chargebee_prices
from tests.conftest import REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")


class FakeChargebee:
    """Items and item prices by id; ``duplicate_entry`` for an id that exists, like Chargebee."""

    def __init__(self, fail_price: str | None = None):
        self.items: set[str] = set()
        self.prices: set[str] = set()
        self.headers: list[dict] = []
        self.fail_price = fail_price
        outer = self

        class Item:
            @staticmethod
            def create(params, headers=None):
                outer.headers.append(headers)
                outer._add(outer.items, params["id"])

        class ItemPrice:
            @staticmethod
            def create(params, headers=None):
                outer.headers.append(headers)
                if params["id"] == outer.fail_price:
                    outer.fail_price = None  # once: the run is cut short here
                    raise APIError(400, {"message": "cut short", "type": "invalid_request",
                                         "api_error_code": "param_wrong_value"})
                outer._add(outer.prices, params["id"])

        self.Item, self.ItemPrice = Item, ItemPrice

    @staticmethod
    def _add(ids: set[str], new: str) -> None:
        if new in ids:
            raise APIError(400, {"message": f"{new} exists", "type": "invalid_request",
                                 "api_error_code": "duplicate_entry"})
        ids.add(new)


def wanted() -> set[str]:
    return {price.price_id for plan in CATALOG.plans.values() if plan.provider == "chargebee"
            for price in (plan.seat, plan.base_fee) if price}


def test_a_run_cut_short_between_an_item_and_its_price_is_completed_by_the_next_run():
    first = sorted(wanted())[0]
    client = FakeChargebee(fail_price=first)
    try:
        create_chargebee_prices(client, CATALOG)
    except APIError:
        pass
    assert first not in client.prices and f"item-{first}" in client.items  # the item made, its price not
    created = create_chargebee_prices(client, CATALOG)
    assert first in created and wanted() <= client.prices
    assert create_chargebee_prices(client, CATALOG) == []  # a third run has nothing left to do


def test_every_write_carries_a_deterministic_idempotency_key():
    client = FakeChargebee()
    create_chargebee_prices(client, CATALOG)
    keys = [h["chargebee-idempotency-key"] for h in client.headers]
    assert len(keys) == len(set(keys)) and all(k.startswith("seatsync:item") for k in keys)
    again = FakeChargebee()
    create_chargebee_prices(again, CATALOG)
    assert [h["chargebee-idempotency-key"] for h in again.headers] == keys
