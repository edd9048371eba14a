"""The local mirror of what the provider billed: one normalized schema for every provider.

github-to-sqlite style: ``save_*(db, obj, provider=...)`` take one provider object as a plain dict
(a webhook's object or a list API item) and write its normalized row (the provider's normalizer,
``adapter/providers/<name>/normalize.py``) plus the raw JSON; fetching lives in the providers too.
Every save goes through the ordering guard: a save applies only when its version is strictly newer
than the stored one (Chargebee's ``resource_version``; for Stripe, which has no versions, the event's
``created``, and a save that is not newer makes the caller re-fetch the object and save that with
``refetched=True``: docs/stripe.md#webhook-delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import sqlite_utils

from adapter import store
from adapter.callbacks import lifecycle
from adapter.providers import registry
from adapter.providers.normalize import ACCOUNT_METADATA_KEY, object_id, raw_json

__all__ = ["ACCOUNT_METADATA_KEY", "KINDS", "Saved", "comparable", "credit_note_row", "invoice_row", "object_id",
           "raw_json", "save", "save_credit_note", "save_customer", "save_invoice", "save_payment",
           "save_pending_charge", "save_subscription", "subscription_account", "subscription_item_rows",
           "subscription_row"]


@dataclass(frozen=True)
class Saved:
    """What a save did: ``applied`` False means the stored state was as new or newer."""

    table: str
    id: str
    applied: bool


def _normalizer(provider: str) -> ModuleType:
    return registry.get(provider).normalize


def _guarded_upsert(db: sqlite_utils.Database, table: str, row: dict, *, version: int | None,
                    refetched: bool) -> bool:
    """Write ``row`` if ``version`` is strictly newer than the stored one (or ``refetched`` is the truth)."""
    stored = store.mirror_row(db, table, row["provider"], row["id"])
    stored_version = stored["version"] if stored else None
    if refetched:
        versions = [v for v in (stored_version, version) if v is not None]
        row["version"] = max(versions) if versions else None
    else:
        if stored is not None and stored_version is not None and (version is None or version <= stored_version):
            return False
        row["version"] = version
    store.upsert_mirror_row(db, table, row)
    return True


def _save_row(db, table: str, row: dict, obj: dict, provider: str, version: int | None, refetched: bool) -> Saved:
    applied = _guarded_upsert(db, table, row, version=_normalizer(provider).version(obj, version), refetched=refetched)
    return Saved(table, obj["id"], applied)


def subscription_account(obj: dict, provider: str) -> str | None:
    """The product account named in the subscription's metadata (auto-link), if any."""
    return _normalizer(provider).subscription_account(obj)


def subscription_row(obj: dict, provider: str) -> dict:
    return _normalizer(provider).subscription_row(obj)


def subscription_item_rows(obj: dict, provider: str) -> list[dict]:
    return _normalizer(provider).subscription_item_rows(obj)


def invoice_row(obj: dict, provider: str) -> dict:
    return _normalizer(provider).invoice_row(obj)


def credit_note_row(obj: dict, provider: str) -> dict:
    return _normalizer(provider).credit_note_row(obj)


def save_customer(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                  refetched: bool = False) -> Saved:
    return _save_row(db, "mirror_customers", _normalizer(provider).customer_row(obj), obj, provider, version,
                     refetched)


def save_subscription(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                      refetched: bool = False) -> Saved:
    before = store.mirror_row(db, "mirror_subscriptions", provider, obj["id"])
    saved = _save_row(db, "mirror_subscriptions", subscription_row(obj, provider), obj, provider, version, refetched)
    if saved.applied:
        store.replace_mirror_children(db, "mirror_subscription_items", provider, obj["id"],
                                      subscription_item_rows(obj, provider))
        # Cancelled, paused, resumed: notify the product, resume seat sync (callbacks/lifecycle.py).
        lifecycle.subscription_saved(db, before, store.mirror_row(db, "mirror_subscriptions", provider, obj["id"]))
    return saved


def save_invoice(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                 refetched: bool = False, lines: list[dict] | None = None) -> Saved:
    """Save an invoice and its complete set of lines (``lines`` when fetched apart from the invoice)."""
    saved = _save_row(db, "mirror_invoices", invoice_row(obj, provider), obj, provider, version, refetched)
    if saved.applied:
        line_rows = _normalizer(provider).invoice_line_rows(obj, lines)
        store.replace_mirror_children(db, "mirror_invoice_lines", provider, obj["id"], line_rows)
        swept = [r["pending_charge"] for r in line_rows if r["pending_charge"]]
        if swept:
            store.mark_pending_charges_invoiced(db, provider, swept, obj["id"])
    return saved


def save_credit_note(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                     refetched: bool = False) -> Saved:
    return _save_row(db, "mirror_credit_notes", credit_note_row(obj, provider), obj, provider, version, refetched)


def save_payment(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                 refetched: bool = False) -> Saved:
    """A Stripe charge or a Chargebee transaction."""
    return _save_row(db, "mirror_payments", _normalizer(provider).payment_row(obj), obj, provider, version,
                     refetched)


def save_pending_charge(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                        refetched: bool = False, invoice: str | None = None) -> Saved:
    """A Stripe invoice item or a Chargebee unbilled charge (``invoice``: the invoice that billed it)."""
    row = _normalizer(provider).pending_charge_row(obj, invoice=invoice)
    if row["invoice"] is None:
        # Stripe sends no event when an invoice sweeps the item: an older snapshot
        # must not un-bill it, and one that arrives after the invoice is billed by it.
        stored = store.mirror_row(db, "mirror_pending_charges", provider, obj["id"])
        if stored is not None and stored["invoice"]:
            row["invoice"] = stored["invoice"]
        else:
            row["invoice"] = store.invoice_billing_pending_charge(db, provider, obj["id"])
    return _save_row(db, "mirror_pending_charges", row, obj, provider, version, refetched)


# What each kind of mirrored object is saved by, and the table it lands in.
KINDS = {
    "customer": (save_customer, "mirror_customers"),
    "subscription": (save_subscription, "mirror_subscriptions"),
    "invoice": (save_invoice, "mirror_invoices"),
    "credit_note": (save_credit_note, "mirror_credit_notes"),
    "payment": (save_payment, "mirror_payments"),
    "pending_charge": (save_pending_charge, "mirror_pending_charges"),
}


def save(db: sqlite_utils.Database, kind: str, obj: dict, *, provider: str, **options) -> Saved:
    """Save one object of a mirrored ``kind``."""
    return KINDS[kind][0](db, obj, provider=provider, **options)


def comparable(db: sqlite_utils.Database, provider: str) -> dict[str, list[dict]]:
    """The provider's current state as mirrored, for comparing two mirrors.

    Every normalized column of every live row, without ``raw`` and ``version``
    (a webhook-built row keeps the event's snapshot and version, a backfilled
    one the list API's) and without deleted rows (list APIs do not return
    deleted objects, and Chargebee deletes unbilled charges once invoiced).
    """
    out = {}
    for table in store.MIRROR_COLUMNS:
        rows = [row for row in store.mirror_rows(db, table, provider) if not row.get("deleted")]
        out[table] = [{k: v for k, v in row.items() if k not in ("raw", "version")} for row in rows]
    return out
