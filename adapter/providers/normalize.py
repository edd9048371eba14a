"""What every provider's normalizer shares: the mirror's row helpers. Pure.

A normalizer (``stripe/normalize.py``, ``chargebee/normalize.py``) turns one provider object, as a plain
dict (a webhook's object or a list API item), into the mirror's normalized row; saving is
``adapter/callbacks/mirror.py``'s job. Amounts stay integers in the minor unit as the provider sends
them; unit amounts are kept as decimal strings because Stripe's may be fractional.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

ACCOUNT_METADATA_KEY = "seatsync_account"


def raw_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def object_id(value: Any) -> str | None:
    """An expandable field's id, whether it arrived as an id or an expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def get(obj: dict | None, *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def decimal_text(value: Any) -> str | None:
    """A unit amount as a canonical decimal string ("1000", "333.3333333333"), never a float."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("unit amounts must not be floats")
    return format(Decimal(str(value)).normalize(), "f")


def flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def account_in(metadata: Any) -> str | None:
    """The product account a provider object's metadata names (``seatsync_account``), if any."""
    if isinstance(metadata, str):  # Chargebee sends meta_data as an object, but accepts a JSON string on write
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    value = metadata.get(ACCOUNT_METADATA_KEY) if isinstance(metadata, dict) else None
    return str(value) if value not in (None, "") else None
