"""Chargebee events → seatsync's raw event rows and what each means for the mirror
(docs/chargebee.md#webhooks). Pure: ``callbacks/events.py`` does the saving.

An event's ``content`` carries the resources it changed (singular keys, and the plural array spelling
for some); each is saved under the ordering guard of its ``resource_version``. Deduplication is by
event id alone. Chargebee has no past_due status: a subscription with due invoices stands in for it,
one notification per episode (``due_since``).
"""

from __future__ import annotations

from typing import Any

from adapter.providers.base import EventEffects, Notice, Save
from adapter.providers.chargebee import normalize

# The primary resource of an event (what a re-fetch by id names), in order of preference.
PRIMARY = ("subscription", "invoice", "credit_note", "transaction", "customer")
# ``content`` key → mirrored kind (singular and the plural array spelling).
KINDS = {"customer": "customer", "subscription": "subscription", "invoice": "invoice",
         "credit_note": "credit_note", "credit_notes": "credit_note", "transaction": "payment",
         "unbilled_charge": "pending_charge", "unbilled_charges": "pending_charge"}
PAID_EVENTS = ("payment_succeeded", "invoice_generated", "invoice_updated", "invoice_generated_with_backdating")


def _as_list(value: Any) -> list[dict]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _dict(value: Any) -> dict | None:
    return value if isinstance(value, dict) else None


def primary(event: dict) -> tuple[str | None, str | None]:
    content = event.get("content") or {}
    for key in PRIMARY:
        if isinstance(content.get(key), dict) and content[key].get("id"):
            return key, content[key]["id"]
    return None, None


def intake_row(event: dict) -> dict:
    object_type, object_id = primary(event)
    return {"event_id": event["id"], "type": event["event_type"], "object_type": object_type,
            "object_id": object_id, "dedupe_key": None, "created": event.get("occurred_at")}


def created(event: dict) -> Any:
    return event.get("occurred_at")


def effects(event: dict) -> EventEffects:
    content = event.get("content") or {}
    kind = event.get("event_type", "")
    invoice = _dict(content.get("invoice"))
    saves = []
    for key, mirrored in KINDS.items():
        for obj in _as_list(content.get(key)):
            if mirrored == "pending_charge":
                # Deleted and voided never revert, so they hold whatever the version says (unbilled
                # charges may lack resource_version, and updated_at has 1 s resolution).
                flags = tuple(flag for flag, on in (
                    ("deleted", kind == "unbilled_charges_deleted" or obj.get("deleted")),
                    ("voided", kind == "unbilled_charges_voided" or obj.get("is_voided"))) if on)
                invoiced = invoice["id"] if invoice and kind == "unbilled_charges_invoiced" else None
                saves.append(Save(mirrored, obj, flags=flags, invoiced_by=invoiced))
            else:
                saves.append(Save(mirrored, obj, link=mirrored == "subscription"))
    return EventEffects(tuple(saves), tuple(_notices(event)))


def _notices(event: dict):
    content = event.get("content") or {}
    kind = event.get("event_type", "")
    invoice = _dict(content.get("invoice"))
    subscription = _dict(content.get("subscription"))
    metadata_account = normalize.subscription_account(subscription) if subscription else None
    if invoice is not None:
        row = normalize.invoice_row(invoice)
        if invoice.get("status") == "paid" and kind in PAID_EVENTS:
            yield Notice("invoice.paid", "invoice", invoice, f"chargebee:invoice.paid:{invoice['id']}",
                         subscription=row["subscription"], metadata_account=metadata_account)
        if kind == "payment_failed":
            yield Notice("invoice.payment_failed", "invoice", invoice,
                         f"chargebee:invoice.payment_failed:{invoice['id']}", subscription=row["subscription"],
                         metadata_account=metadata_account,
                         extra={"attempt_count": None, "next_payment_attempt": invoice.get("next_retry_at")})
    # A snapshot next to a paid invoice is not news of a failure, whatever its due count.
    if subscription is not None and (subscription.get("due_invoices_count") or 0) > 0 \
            and (invoice or {}).get("status") != "paid":
        # One notification per episode: dated by due_since, else by the invoice that fell due.
        episode = subscription.get("due_since") or (invoice or {}).get("id") or "unknown"
        yield Notice("subscription.past_due", "subscription", subscription,
                     f"chargebee:subscription.past_due:{subscription['id']}:{episode}",
                     subscription=subscription["id"], metadata_account=metadata_account)
    if kind in ("credit_note_created", "credit_note_created_with_backdating"):
        for note in _as_list(content.get("credit_note")) + _as_list(content.get("credit_notes")):
            row = normalize.credit_note_row(note)
            yield Notice("credit.issued", "credit", note, f"chargebee:credit.issued:{note['id']}",
                         subscription=row["subscription"], metadata_account=metadata_account)
