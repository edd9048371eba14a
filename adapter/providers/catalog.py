"""Create a catalogue's prices at the provider.

Stripe chooses its own price ids (``price_…``): a deployment creates the
prices once and writes the ids it got into ``mappings/``
(``adapter.policy.rewrite_price_ids``). Chargebee item prices take the ids the
catalogue names, so they are created as written.
"""

from __future__ import annotations

from functools import partial

from chargebee import Chargebee
from chargebee.api_error import APIError

from adapter.billing.policy import Catalog
from adapter.providers.retry import call_with_retries


def catalogue_prices(catalog: Catalog, provider: str):
    """(price id, unit amount, currency, interval, display name, kind, source file) for each price of
    ``provider`` (``seatsync doctor`` checks the same list this module creates)."""
    for plan in catalog.plans.values():
        if plan.provider != provider:
            continue
        prices = [(plan.seat, f"{plan.name} seat", "plan")]
        if plan.base_fee:
            prices.append((plan.base_fee, f"{plan.name} base fee", "addon"))
        for price, name, kind in prices:
            yield price.price_id, price.unit_amount, plan.currency, plan.interval, name, kind, plan.source
            for change in price.price_changes:
                if change.price_id != price.price_id:
                    yield change.price_id, change.unit_amount, plan.currency, plan.interval, name, kind, plan.source
    for addon in catalog.addons.values():
        if addon.provider == provider:
            price = addon.price
            yield price.price_id, price.unit_amount, addon.currency, addon.interval, addon.name, "addon", addon.source
            for change in price.price_changes:
                if change.price_id != price.price_id:
                    yield (change.price_id, change.unit_amount, addon.currency, addon.interval, addon.name, "addon",
                           addon.source)


def _prices(catalog: Catalog, provider: str):
    """(price id, unit amount, currency, interval, display name, kind) for each price of ``provider``."""
    for price_id, amount, currency, interval, name, kind, _ in catalogue_prices(catalog, provider):
        yield price_id, amount, currency, interval, name, kind


def create_stripe_prices(client, catalog: Catalog) -> dict[str, str]:
    """Create one product and recurring per-unit price per catalogue price; return catalogue id → Stripe id."""
    ids: dict[str, str] = {}
    for price_id, amount, currency, interval, name, _ in _prices(catalog, "stripe"):
        if price_id in ids:
            continue
        # A catalogue has more prices than Stripe's 25 requests/s allow at once: limiter 429s are
        # retried (honouring Retry-After) under the same idempotency keys, so nothing is made twice.
        # partial binds this iteration's values now (a lambda would read the loop variables when called).
        product = call_with_retries(partial(
            client.v1.products.create, {"name": name}, {"idempotency_key": f"seatsync:product:{price_id}"}))
        price = call_with_retries(partial(
            client.v1.prices.create,
            {"product": product.id, "unit_amount": amount, "currency": currency.lower(),
             "recurring": {"interval": interval}},
            {"idempotency_key": f"seatsync:price:{price_id}"}))
        ids[price_id] = price.id
    return ids


def create_chargebee_prices(client: Chargebee, catalog: Catalog) -> list[str]:
    """Create an item and an item price per catalogue price (ids as written); skip those that exist.

    Each write is its own step, so a run cut short between the item and its price is completed by the next
    run; retries carry the same ``chargebee-idempotency-key``, so a retried create is not made twice.
    """
    created = []
    for price_id, amount, currency, interval, name, kind in _prices(catalog, "chargebee"):
        item_id = f"item-{price_id}"
        # partial binds this iteration's parameters; _create_unless_exists adds the headers.
        _create_unless_exists(partial(
            client.Item.create,
            {"id": item_id, "name": f"{name} ({price_id})", "type": kind, "item_family_id": "seatsync"}),
            key=f"seatsync:item:{price_id}")
        # name is required (chargebee-python ItemPrice.CreateParams: name: Required[str]).
        if _create_unless_exists(partial(
                client.ItemPrice.create,
                {"id": price_id, "name": f"{name} ({price_id})", "item_id": item_id, "pricing_model": "per_unit",
                 "price": amount, "currency_code": currency, "period": 1, "period_unit": interval}),
                key=f"seatsync:item_price:{price_id}"):
            created.append(price_id)
    return created


def _create_unless_exists(create, *, key: str) -> bool:
    """``True`` when created now, ``False`` when it already existed."""
    try:
        call_with_retries(lambda: create({"chargebee-idempotency-key": key}))
    except APIError as exc:
        if exc.api_error_code != "duplicate_entry":
            raise
        return False
    return True
