"""Rendering stored Stripe objects, recording events, merging metadata."""

from __future__ import annotations

import copy
from typing import Any

from ..state import API_VERSION, Ledger


def render(ledger: Ledger, obj: dict) -> dict:
    """The object as the API shows it (lists expanded into Stripe's list shape)."""
    kind = obj.get("object")
    out = copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})  # _keys: sandbox bookkeeping
    if kind == "subscription":
        out.pop("item_ids", None)
        out["items"] = {"object": "list", "data": [render(ledger, ledger.items[i]) for i in obj["item_ids"]],
                        "has_more": False, "total_count": len(obj["item_ids"]),
                        "url": f"/v1/subscription_items?subscription={obj['id']}"}
    elif kind == "subscription_item":
        out["price"] = copy.deepcopy(ledger.prices[obj["price"]])
    elif kind == "invoice":
        lines = out.pop("lines")
        out["lines"] = {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                        "url": f"/v1/invoices/{obj['id']}/lines"}
    return out


def emit(ledger: Ledger, type_: str, obj: dict, previous: dict | None = None, *, at: int | None = None,
         automatic: bool = False) -> dict:
    """Append a Stripe event for ``obj``; the HTTP layer forwards new events to the dispatcher."""
    data: dict[str, Any] = {"object": render(ledger, obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    owner = obj.get("customer") if obj.get("object") != "customer" else obj["id"]
    event = {
        "id": ledger.new_id("evt"), "object": "event", "api_version": API_VERSION,
        "created": at if at is not None else ledger.now(owner),
        "data": data, "livemode": False, "pending_webhooks": 0, "type": type_,
        # Renewals and clock-driven work have no request (reference §5 Event object).
        "request": {"id": None, "idempotency_key": None} if automatic else dict(ledger.request),
    }
    ledger.add_event(event)
    return event


def merge_metadata(current: dict, update: dict) -> dict:
    """Stripe merges metadata keys; an empty value unsets a key; ``metadata=""`` clears all."""
    if not update:
        return {}
    merged = {**current, **update}
    return {k: v for k, v in merged.items() if v != ""}
