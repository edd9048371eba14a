"""Create the repository catalogue's prices in a sandbox and mappings that name the ids it chose."""

from __future__ import annotations

from pathlib import Path

from adapter.billing.policy import load_catalog, rewrite_price_ids
from adapter.providers.catalog import create_stripe_prices

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def provision_stripe(client, out_dir: Path, source: Path = REPO_MAPPINGS) -> dict[str, str]:
    """Create the Stripe prices, write rewritten mappings to ``out_dir``; return catalogue id → sandbox id."""
    ids = create_stripe_prices(client, load_catalog(source))
    rewrite_price_ids(source, out_dir, ids)
    return ids
