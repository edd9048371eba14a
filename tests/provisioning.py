"""Create a catalogue's prices in a sandbox and write mappings that name the ids the provider chose.

Real Stripe picks price ids itself (``price_…``), so a deployment creates its
prices once and writes their ids into ``mappings/``. Tests do the same against
the sandbox: every Stripe price id in ``mappings/`` is created there and
replaced, in a copy of the files, by the id the sandbox returned.
"""

from __future__ import annotations

import re
from pathlib import Path

from adapter.policy import load_catalog

REPO_MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


def _stripe_prices(catalog):
    """(price id, unit amount, currency, interval, name) of every Stripe price in the catalogue."""
    for plan in catalog.plans.values():
        if plan.provider != "stripe":
            continue
        prices = [(plan.seat, f"{plan.name} seat")] + ([(plan.base_fee, f"{plan.name} base fee")] if plan.base_fee else [])
        for price, name in prices:
            yield price.price_id, price.unit_amount, plan.currency, plan.interval, name
            for change in price.price_changes:
                yield change.price_id, change.unit_amount, plan.currency, plan.interval, name
    for addon in catalog.addons.values():
        if addon.provider == "stripe":
            yield addon.price.price_id, addon.price.unit_amount, addon.currency, addon.interval, addon.name


def provision_stripe(client, out_dir: Path, source: Path = REPO_MAPPINGS) -> dict[str, str]:
    """Create the prices; write the rewritten mappings to ``out_dir``; return mapping id → sandbox id."""
    catalog = load_catalog(source)
    ids: dict[str, str] = {}
    for price_id, amount, currency, interval, name in _stripe_prices(catalog):
        if price_id in ids:
            continue
        product = client.v1.products.create({"name": name})
        created = client.v1.prices.create({"product": product.id, "unit_amount": amount,
                                           "currency": currency.lower(), "recurring": {"interval": interval}})
        ids[price_id] = created.id
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.toml")):
        text = path.read_text()
        for old, new in ids.items():
            text = re.sub(rf'"{re.escape(old)}"', f'"{new}"', text)
        (out_dir / path.name).write_text(text)
    return ids
