"""Stripe events → seatsync's raw event rows and what each means for the mirror (docs/stripe.md#webhook-delivery).
Pure: ``callbacks/events.py`` does the saving.

Deduplication: by event id, and also by type + object id + a digest of ``data.object``,
``data.previous_attributes`` and ``created``, because "in some cases, two separate Event objects are
generated" for one change; two ``customer.subscription.updated`` for one subscription are normally
two changes (even with identical snapshots, A → B → A), and only the same change at the same second
is the same change twice.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from adapter.providers.base import EventEffects, Notice, Save
from adapter.providers.normalize import account_in, get
from adapter.providers.stripe import normalize

# Stripe object type → mirrored kind.
KINDS = {"customer": "customer", "subscription": "subscription", "invoice": "invoice",
         "credit_note": "credit_note", "charge": "payment", "invoiceitem": "pending_charge"}
# ``*.deleted`` events that remove the object (``customer.subscription.deleted`` is a cancellation:
# the subscription still exists, with status ``canceled``).
DELETIONS = {"customer.deleted", "invoice.deleted", "invoiceitem.deleted"}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def intake_row(event: dict) -> dict:
    """The raw-event row's provider-specific columns."""
    data = event.get("data") or {}
    obj = data.get("object") or {}
    object_id = obj.get("id")
    # The snapshot alone is not enough: a subscription that goes active → past_due → active has the
    # same snapshot twice; what changed (previous_attributes) and when (created) tell them apart.
    digest = hashlib.sha256(_canonical([obj, data.get("previous_attributes"), event.get("created")]).encode())
    return {"event_id": event["id"], "type": event["type"], "object_type": obj.get("object"), "object_id": object_id,
            "dedupe_key": f"{event['type']}:{object_id}:{digest.hexdigest()[:32]}" if object_id else None,
            "created": event.get("created")}


def created(event: dict) -> Any:
    return event.get("created")


def effects(event: dict) -> EventEffects:
    obj = event["data"]["object"]
    kind = KINDS.get(obj.get("object"))
    version = event.get("created")
    notices = tuple(_notices(event))
    if kind is None or not obj.get("id"):
        return EventEffects(notices=notices)
    if event["type"] in DELETIONS:
        return EventEffects((Save(kind, dict(obj, deleted=True), version, flags=("deleted",)),), notices,
                            deletion=True)
    save = Save(kind, obj, version, link=kind == "subscription",
                lines_needed=kind == "invoice" and not normalize.lines_complete(obj))
    return EventEffects((save,), notices, refetch=(obj["object"], obj["id"]))


def _metadata_account(obj: dict) -> str | None:
    if obj.get("object") == "invoice":
        return account_in(get(obj, "parent", "subscription_details", "metadata"))
    return account_in(obj.get("metadata"))


def _notices(event: dict):
    obj = event["data"]["object"]
    kind = event["type"]
    if kind in ("invoice.paid", "invoice.payment_failed"):
        row = normalize.invoice_row(obj)
        extra = {}
        if kind == "invoice.payment_failed":
            extra = {"attempt_count": obj.get("attempt_count"), "next_payment_attempt": obj.get("next_payment_attempt")}
        yield Notice(kind, "invoice", obj, f"stripe:{kind}:{obj['id']}", subscription=row["subscription"],
                     metadata_account=_metadata_account(obj), extra=extra)
    elif kind in ("customer.subscription.created", "customer.subscription.updated") and obj.get("status") == "past_due":
        row = normalize.subscription_row(obj)
        yield Notice("subscription.past_due", "subscription", obj,
                     f"stripe:subscription.past_due:{obj['id']}:{row['past_due_since']}", subscription=obj["id"],
                     metadata_account=_metadata_account(obj))
    elif kind == "credit_note.created":
        row = normalize.credit_note_row(obj)
        yield Notice("credit.issued", "credit", obj, f"stripe:credit.issued:{obj['id']}",
                     metadata_account=_metadata_account(obj), subscription_from_invoice=row["invoice"])
