"""The local mirror of what the provider billed: one normalized schema for Stripe and Chargebee.

github-to-sqlite style: ``save_*(db, obj, provider=...)`` take one provider
object as a plain dict (a webhook's ``data.object``/``content`` entry or a list
API item) and write its normalized row plus the raw JSON; fetching lives in
``adapter/providers/``. Every save goes through the ordering guard:

- Chargebee: ``resource_version`` (milliseconds, "updated with a new timestamp
  for every change", reference chargebee.md §5) is the version; a save applies
  only when it is strictly newer than the stored one.
- Stripe objects carry no version, so the caller passes the event's ``created``
  (whole seconds). A save applies only when strictly newer; otherwise it returns
  ``False`` and the caller re-fetches the object from the API and saves that
  with ``refetched=True`` (reference stripe.md §5: no ordering guarantee, and
  same-second events are common, especially under test clocks).

Amounts are integers in the minor unit as the provider sends them; unit amounts
are kept as the provider's decimal strings because Stripe's may be fractional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlite_utils

from adapter import store

PROVIDERS = ("stripe", "chargebee")
ACCOUNT_METADATA_KEY = "seatsync_account"


@dataclass(frozen=True)
class Saved:
    """What a save did: ``applied`` False means the stored state was as new or newer."""

    table: str
    id: str
    applied: bool


def raw_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def object_id(value: Any) -> str | None:
    """An expandable field's id, whether it arrived as an id or an expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _get(obj: dict | None, *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _decimal_text(value: Any) -> str | None:
    """A unit amount as a canonical decimal string ("1000", "333.3333333333"), never a float."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("unit amounts must not be floats")
    return format(Decimal(str(value)).normalize(), "f")


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def chargebee_version(obj: dict) -> int | None:
    """``resource_version`` (ms); resources without one (unbilled charges) fall back to ``updated_at`` in ms."""
    if obj.get("resource_version") is not None:
        return int(obj["resource_version"])
    if obj.get("updated_at") is not None:
        return int(obj["updated_at"]) * 1000
    return None


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


def _version(provider: str, obj: dict, version: int | None) -> int | None:
    if provider == "chargebee" and version is None:
        return chargebee_version(obj)
    return version


def _check(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")


# --------------------------------------------------------------------------- customers


def customer_row(obj: dict, provider: str) -> dict:
    if provider == "stripe":
        name = obj.get("name")
    else:
        parts = [obj.get("first_name"), obj.get("last_name")]
        name = " ".join(p for p in parts if p) or obj.get("company")
    return {"provider": provider, "id": obj["id"], "email": obj.get("email"), "name": name,
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def save_customer(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                  refetched: bool = False) -> Saved:
    _check(provider)
    row = customer_row(obj, provider)
    applied = _guarded_upsert(db, "mirror_customers", row, version=_version(provider, obj, version),
                              refetched=refetched)
    return Saved("mirror_customers", obj["id"], applied)


# ----------------------------------------------------------------------- subscriptions


def subscription_account(obj: dict, provider: str) -> str | None:
    """The product account named in the subscription's metadata (auto-link), if any."""
    metadata = obj.get("metadata") if provider == "stripe" else obj.get("meta_data")
    if isinstance(metadata, str):  # Chargebee sends meta_data as an object, but accepts a JSON string on write
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    value = metadata.get(ACCOUNT_METADATA_KEY) if isinstance(metadata, dict) else None
    return str(value) if value not in (None, "") else None


def subscription_item_rows(obj: dict, provider: str) -> list[dict]:
    rows = []
    if provider == "stripe":
        for item in _get(obj, "items", "data") or []:
            price = item.get("price")
            rows.append({
                "provider": provider, "id": item["id"], "subscription": obj["id"], "price": object_id(price),
                "quantity": item.get("quantity"),
                "unit_amount_decimal": _decimal_text(price.get("unit_amount_decimal")) if isinstance(price, dict)
                else None,
                "current_period_start": item.get("current_period_start"),
                "current_period_end": item.get("current_period_end"),
                "raw": raw_json(item),
            })
    else:
        for item in obj.get("subscription_items") or []:
            unit = item.get("unit_price_in_decimal")
            rows.append({
                # Chargebee subscription items have no id of their own; one item price per subscription.
                "provider": provider, "id": f"{obj['id']}:{item['item_price_id']}", "subscription": obj["id"],
                "price": item["item_price_id"], "quantity": item.get("quantity"),
                "unit_amount_decimal": _decimal_text(unit if unit is not None else item.get("unit_price")),
                "current_period_start": item.get("current_term_start", obj.get("current_term_start")),
                "current_period_end": item.get("current_term_end", obj.get("current_term_end")),
                "raw": raw_json(item),
            })
    return rows


def subscription_row(obj: dict, provider: str) -> dict:
    if provider == "stripe":
        items = _get(obj, "items", "data") or []
        starts = [i["current_period_start"] for i in items if i.get("current_period_start") is not None]
        ends = [i["current_period_end"] for i in items if i.get("current_period_end") is not None]
        status = obj.get("status")
        # One past-due episode per unpaid latest invoice: the key that makes
        # ``subscription.past_due`` notify once per episode.
        past_due_since = object_id(obj.get("latest_invoice")) if status == "past_due" else None
        return {"provider": provider, "id": obj["id"], "customer": object_id(obj.get("customer")),
                "account": subscription_account(obj, provider), "status": status, "currency": obj.get("currency"),
                "current_period_start": min(starts) if starts else None,
                "current_period_end": max(ends) if ends else None,
                "past_due_since": past_due_since, "deleted": 0, "raw": raw_json(obj)}
    # Chargebee has no past_due status (future, in_trial, active, non_renewing, paused, cancelled);
    # a subscription with due invoices is the nearest equivalent, dated by ``due_since``. The
    # count alone is not kept: it is derived from the invoices and may change without a new
    # resource_version, so the invoices' own rows are the state to trust.
    due = obj.get("due_invoices_count") or 0
    return {"provider": provider, "id": obj["id"], "customer": obj.get("customer_id"),
            "account": subscription_account(obj, provider), "status": obj.get("status"),
            "currency": obj.get("currency_code"),
            "current_period_start": obj.get("current_term_start"), "current_period_end": obj.get("current_term_end"),
            "past_due_since": str(obj["due_since"]) if due > 0 and obj.get("due_since") else None,
            "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def save_subscription(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                      refetched: bool = False) -> Saved:
    _check(provider)
    row = subscription_row(obj, provider)
    applied = _guarded_upsert(db, "mirror_subscriptions", row, version=_version(provider, obj, version),
                              refetched=refetched)
    if applied:
        store.replace_mirror_children(db, "mirror_subscription_items", provider, obj["id"],
                                      subscription_item_rows(obj, provider))
    return Saved("mirror_subscriptions", obj["id"], applied)


# ---------------------------------------------------------------------------- invoices


def _stripe_line_row(line: dict, invoice_id: str) -> dict:
    details = _get(line, "parent", "subscription_item_details") or _get(line, "parent", "invoice_item_details") or {}
    return {
        "provider": "stripe", "id": line["id"], "invoice": invoice_id,
        "subscription": object_id(details.get("subscription")) or object_id(line.get("subscription")),
        "subscription_item": details.get("subscription_item"),
        "price": object_id(_get(line, "pricing", "price_details", "price")),
        "description": line.get("description"),
        "period_start": _get(line, "period", "start"), "period_end": _get(line, "period", "end"),
        "quantity": line.get("quantity"),
        "unit_amount_decimal": _decimal_text(_get(line, "pricing", "unit_amount_decimal")),
        "amount": line["amount"], "proration": _flag(details.get("proration")),
        "pending_charge": details.get("invoice_item"), "raw": raw_json(line),
    }


def _chargebee_line_row(line: dict, invoice: dict, index: int) -> dict:
    unit = line.get("unit_amount_in_decimal")
    return {
        "provider": "chargebee", "id": line.get("id") or f"{invoice['id']}:{index}", "invoice": invoice["id"],
        "subscription": line.get("subscription_id") or invoice.get("subscription_id"),
        "subscription_item": None, "price": line.get("entity_id"), "description": line.get("description"),
        "period_start": line.get("date_from"), "period_end": line.get("date_to"), "quantity": line.get("quantity"),
        "unit_amount_decimal": _decimal_text(unit if unit is not None else line.get("unit_amount")),
        # Chargebee has no proration flag on line items (reference chargebee.md §3): unknown, not false.
        "amount": line.get("amount", 0), "proration": None, "pending_charge": None, "raw": raw_json(line),
    }


def invoice_line_rows(obj: dict, provider: str, lines: list[dict] | None = None) -> list[dict]:
    if provider == "stripe":
        source = lines if lines is not None else (_get(obj, "lines", "data") or [])
        return [_stripe_line_row(line, obj["id"]) for line in source]
    source = lines if lines is not None else (obj.get("line_items") or [])
    return [_chargebee_line_row(line, obj, index) for index, line in enumerate(source)]


def invoice_row(obj: dict, provider: str) -> dict:
    if provider == "stripe":
        return {"provider": provider, "id": obj["id"], "customer": object_id(obj.get("customer")),
                "subscription": object_id(_get(obj, "parent", "subscription_details", "subscription"))
                or object_id(obj.get("subscription")),
                "status": obj.get("status"), "currency": obj.get("currency"), "subtotal": obj.get("subtotal"),
                "total": obj.get("total"), "amount_due": obj.get("amount_due"), "amount_paid": obj.get("amount_paid"),
                "period_start": obj.get("period_start"), "period_end": obj.get("period_end"),
                "created": obj.get("created"), "billing_reason": obj.get("billing_reason"),
                "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}
    return {"provider": provider, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "status": obj.get("status"),
            "currency": obj.get("currency_code"), "subtotal": obj.get("sub_total"), "total": obj.get("total"),
            "amount_due": obj.get("amount_due"), "amount_paid": obj.get("amount_paid"),
            # Chargebee invoices have no period of their own; their lines carry date_from/date_to.
            "period_start": None, "period_end": None, "created": obj.get("date"),
            "billing_reason": None, "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def stripe_lines_complete(obj: dict) -> bool:
    """Whether the invoice embeds all its lines (else fetch them: ``lines.has_more``)."""
    return not _get(obj, "lines", "has_more")


def save_invoice(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                 refetched: bool = False, lines: list[dict] | None = None) -> Saved:
    """Save an invoice and its complete set of lines (``lines`` when fetched apart from the invoice)."""
    _check(provider)
    row = invoice_row(obj, provider)
    applied = _guarded_upsert(db, "mirror_invoices", row, version=_version(provider, obj, version),
                              refetched=refetched)
    if applied:
        line_rows = invoice_line_rows(obj, provider, lines)
        store.replace_mirror_children(db, "mirror_invoice_lines", provider, obj["id"], line_rows)
        swept = [r["pending_charge"] for r in line_rows if r["pending_charge"]]
        if swept:
            store.mark_pending_charges_invoiced(db, provider, swept, obj["id"])
    return Saved("mirror_invoices", obj["id"], applied)


# ------------------------------------------------------------------------ credit notes


def credit_note_row(obj: dict, provider: str) -> dict:
    if provider == "stripe":
        return {"provider": provider, "id": obj["id"], "customer": object_id(obj.get("customer")),
                "subscription": None, "invoice": object_id(obj.get("invoice")), "type": obj.get("type"),
                "status": obj.get("status"), "reason": obj.get("reason"), "currency": obj.get("currency"),
                "total": obj.get("total"), "created": obj.get("created"), "deleted": 0, "raw": raw_json(obj)}
    return {"provider": provider, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "invoice": obj.get("reference_invoice_id"),
            "type": obj.get("type"), "status": obj.get("status"),
            "reason": obj.get("create_reason_code") or obj.get("reason_code"), "currency": obj.get("currency_code"),
            "total": obj.get("total"), "created": obj.get("date"), "deleted": int(bool(obj.get("deleted"))),
            "raw": raw_json(obj)}


def save_credit_note(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                     refetched: bool = False) -> Saved:
    _check(provider)
    applied = _guarded_upsert(db, "mirror_credit_notes", credit_note_row(obj, provider),
                              version=_version(provider, obj, version), refetched=refetched)
    return Saved("mirror_credit_notes", obj["id"], applied)


# ------------------------------------------------------------ payments and charges


def payment_row(obj: dict, provider: str) -> dict:
    if provider == "stripe":
        return {"provider": provider, "id": obj["id"], "kind": obj.get("object", "charge"),
                "customer": object_id(obj.get("customer")), "subscription": None,
                # Charge.invoice left the API in basil; kept when an older-version payload has it.
                "invoice": object_id(obj.get("invoice")), "status": obj.get("status"), "amount": obj.get("amount"),
                "currency": obj.get("currency"), "created": obj.get("created"), "deleted": 0, "raw": raw_json(obj)}
    linked = obj.get("linked_invoices") or []
    return {"provider": provider, "id": obj["id"], "kind": "transaction", "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "invoice": linked[0].get("invoice_id") if linked else None,
            "status": obj.get("status"), "amount": obj.get("amount"), "currency": obj.get("currency_code"),
            "created": obj.get("date"), "deleted": int(bool(obj.get("deleted"))), "raw": raw_json(obj)}


def save_payment(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                 refetched: bool = False) -> Saved:
    """A Stripe charge or a Chargebee transaction."""
    _check(provider)
    applied = _guarded_upsert(db, "mirror_payments", payment_row(obj, provider),
                              version=_version(provider, obj, version), refetched=refetched)
    return Saved("mirror_payments", obj["id"], applied)


# ------------------------------------------- pending invoice items / unbilled charges


def pending_charge_row(obj: dict, provider: str, *, invoice: str | None = None) -> dict:
    if provider == "stripe":
        details = _get(obj, "parent", "subscription_details") or {}
        return {"provider": provider, "id": obj["id"], "customer": object_id(obj.get("customer")),
                "subscription": object_id(details.get("subscription")) or object_id(obj.get("subscription")),
                "subscription_item": details.get("subscription_item"),
                "price": object_id(_get(obj, "pricing", "price_details", "price")),
                "description": obj.get("description"),
                "period_start": _get(obj, "period", "start"), "period_end": _get(obj, "period", "end"),
                "quantity": obj.get("quantity"),
                "unit_amount_decimal": _decimal_text(_get(obj, "pricing", "unit_amount_decimal")),
                "amount": obj.get("amount"), "proration": _flag(obj.get("proration")),
                "invoice": object_id(obj.get("invoice")), "voided": 0, "deleted": int(bool(obj.get("deleted"))),
                "raw": raw_json(obj)}
    unit = obj.get("unit_amount_in_decimal")
    return {"provider": provider, "id": obj["id"], "customer": obj.get("customer_id"),
            "subscription": obj.get("subscription_id"), "subscription_item": None, "price": obj.get("entity_id"),
            "description": obj.get("description"), "period_start": obj.get("date_from"),
            "period_end": obj.get("date_to"), "quantity": obj.get("quantity"),
            "unit_amount_decimal": _decimal_text(unit if unit is not None else obj.get("unit_amount")),
            "amount": obj.get("amount"), "proration": None, "invoice": invoice,
            "voided": int(bool(obj.get("is_voided"))), "deleted": int(bool(obj.get("deleted"))),
            "raw": raw_json(obj)}


def save_pending_charge(db: sqlite_utils.Database, obj: dict, *, provider: str, version: int | None = None,
                        refetched: bool = False, invoice: str | None = None) -> Saved:
    """A Stripe invoice item or a Chargebee unbilled charge (``invoice``: the invoice that billed it)."""
    _check(provider)
    row = pending_charge_row(obj, provider, invoice=invoice)
    if row["invoice"] is None:
        # Stripe sends no event when an invoice sweeps the item: an older snapshot
        # must not un-bill it, and one that arrives after the invoice is billed by it.
        stored = store.mirror_row(db, "mirror_pending_charges", provider, obj["id"])
        if stored is not None and stored["invoice"]:
            row["invoice"] = stored["invoice"]
        else:
            row["invoice"] = store.invoice_billing_pending_charge(db, provider, obj["id"])
    applied = _guarded_upsert(db, "mirror_pending_charges", row, version=_version(provider, obj, version),
                              refetched=refetched)
    return Saved("mirror_pending_charges", obj["id"], applied)


# --------------------------------------------------------------------- dispatching

STRIPE_SAVERS = {
    "customer": save_customer,
    "subscription": save_subscription,
    "invoice": save_invoice,
    "credit_note": save_credit_note,
    "charge": save_payment,
    "invoiceitem": save_pending_charge,
}

STRIPE_SAVERS_TABLES = {
    "customer": "mirror_customers",
    "subscription": "mirror_subscriptions",
    "invoice": "mirror_invoices",
    "credit_note": "mirror_credit_notes",
    "charge": "mirror_payments",
    "invoiceitem": "mirror_pending_charges",
}

# Chargebee event ``content`` keys (singular and the plural array spelling, chargebee.md §5).
CHARGEBEE_SAVERS = {
    "customer": save_customer,
    "subscription": save_subscription,
    "invoice": save_invoice,
    "credit_note": save_credit_note,
    "credit_notes": save_credit_note,
    "transaction": save_payment,
    "unbilled_charge": save_pending_charge,
    "unbilled_charges": save_pending_charge,
}

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
