"""Provider events: durable raw intake with deduplication, then processing by the worker.

The receivers (``webhooks/stripe.py``, ``webhooks/chargebee.py``), the sweeper
and nothing else call ``record_*_event``: one committed row per event, and the
2xx goes out only after that commit. ``process_pending_provider_events`` is
what the worker loop calls: it leases due rows in a write transaction (so any
number of workers can run it at once), applies each event to the mirror and
queues the product notifications it implies in one transaction with marking it
processed, so a crash anywhere replays the event and nothing happens twice.

Deduplication:
- by ``(provider, event id)``, for both providers;
- for Stripe also by object id and type, because "in some cases, two separate
  Event objects are generated" for one change (reference stripe.md §5). The key
  also includes a digest of ``data.object``, ``data.previous_attributes`` and
  ``created``: two ``customer.subscription.updated`` events for one subscription
  are normally two different changes (even with identical snapshots, A → B → A),
  and only the same change at the same second is the same change twice.

Ordering: see adapter/mirror.py. For Stripe an event whose ``created`` is not
strictly newer than the stored state makes the worker re-fetch the object.
Chargebee events are optionally re-fetched by id before they are trusted
(``CHARGEBEE_WEBHOOK_REFETCH``): done here in the worker rather than in the
receiver, because a provider call inside the request risks the webhook's
timeout (the Chargebee maintainer's warning, reference chargebee.md §5).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import sqlite_utils

from adapter import accounts, store
from adapter.billing import policy
from adapter.callbacks import mirror, notify
from adapter.clock import now_us
from adapter.intake.parse import IntakeError

log = logging.getLogger(__name__)

LEASE_US = 60 * 1_000_000
MAX_ATTEMPTS = 10
RETRY_BASE_US = 5 * 1_000_000
RETRY_CAP_US = 60 * 60 * 1_000_000

# Stripe ``*.deleted`` events that remove the object (``customer.subscription.deleted``
# is a cancellation: the subscription still exists, with status ``canceled``).
STRIPE_DELETIONS = {"customer.deleted", "invoice.deleted", "invoiceitem.deleted"}
CHARGEBEE_PRIMARY = ("subscription", "invoice", "credit_note", "transaction", "customer")


class ObjectFetcher(Protocol):
    """What the worker needs from a provider client to settle ordering and verify events."""

    def fetch_object(self, object_type: str, object_id: str) -> dict | None: ...

    def fetch_invoice_lines(self, invoice_id: str) -> list[dict]: ...

    def fetch_event(self, event_id: str) -> dict | None: ...


class EventRejected(Exception):
    """An event the provider does not confirm (Chargebee re-fetch found nothing)."""



def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------- intake


def stripe_intake_row(event: dict, body: bytes | str, *, source: str, received_us: int | None = None) -> dict:
    data = event.get("data") or {}
    obj = data.get("object") or {}
    object_id = obj.get("id")
    # The snapshot alone is not enough: a subscription that goes active → past_due
    # → active has the same snapshot twice; what changed (previous_attributes)
    # and when (created) tell those two real changes apart.
    fingerprint = [obj, data.get("previous_attributes"), event.get("created")]
    digest = hashlib.sha256(_canonical(fingerprint).encode()).hexdigest()[:32]
    return {
        "provider": "stripe", "event_id": event["id"], "type": event["type"],
        "object_type": obj.get("object"), "object_id": object_id,
        "dedupe_key": f"{event['type']}:{object_id}:{digest}" if object_id else None,
        "created": event.get("created"),
        "body": body.decode() if isinstance(body, bytes) else body,
        "source": source, "received_us": now_us() if received_us is None else received_us,
    }


def chargebee_primary(event: dict) -> tuple[str | None, str | None]:
    content = event.get("content") or {}
    for key in CHARGEBEE_PRIMARY:
        if isinstance(content.get(key), dict) and content[key].get("id"):
            return key, content[key]["id"]
    return None, None


def chargebee_intake_row(event: dict, body: bytes | str, *, source: str, received_us: int | None = None) -> dict:
    object_type, object_id = chargebee_primary(event)
    return {
        "provider": "chargebee", "event_id": event["id"], "type": event["event_type"],
        "object_type": object_type, "object_id": object_id, "dedupe_key": None,
        "created": event.get("occurred_at"),
        "body": body.decode() if isinstance(body, bytes) else body,
        "source": source, "received_us": now_us() if received_us is None else received_us,
    }


def record_stripe_event(db: sqlite_utils.Database, event: dict, body: bytes | str, *, source: str = "webhook") -> bool:
    """Commit a verified Stripe event; ``False`` when it is a duplicate."""
    return store.insert_provider_event(db, stripe_intake_row(event, body, source=source))


def record_chargebee_event(db: sqlite_utils.Database, event: dict, body: bytes | str, *,
                           source: str = "webhook") -> bool:
    """Commit an authenticated Chargebee event; ``False`` when it is a duplicate."""
    return store.insert_provider_event(db, chargebee_intake_row(event, body, source=source))


# ----------------------------------------------------------------------- processing


@dataclass
class ProcessReport:
    processed: int = 0
    refetched: int = 0
    postponed: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def default_fetchers(settings) -> dict[str, Callable[[], ObjectFetcher]]:
    """Lazy per-provider fetchers built from settings (the SDKs are imported only when needed)."""
    def stripe_fetcher():
        from adapter.providers.stripe import client as stripe_provider
        return stripe_provider.StripeFetcher(stripe_provider.stripe_client(settings))

    def chargebee_fetcher():
        from adapter.providers.chargebee import client as chargebee_provider
        return chargebee_provider.ChargebeeFetcher(chargebee_provider.chargebee_client(settings))

    return {"stripe": stripe_fetcher, "chargebee": chargebee_fetcher}


class _Fetchers:
    def __init__(self, factories: dict[str, Callable[[], ObjectFetcher]]):
        self._factories = factories
        self._built: dict[str, ObjectFetcher] = {}

    def __getitem__(self, provider: str) -> ObjectFetcher:
        if provider not in self._built:
            if provider not in self._factories:
                raise LookupError(f"no API client for {provider}: its events cannot be settled")
            self._built[provider] = self._factories[provider]()
        return self._built[provider]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_pending_provider_events(db: sqlite_utils.Database, settings, *,
                                    fetchers: dict[str, Callable[[], ObjectFetcher]] | None = None,
                                    owner: str | None = None, limit: int = 100,
                                    clock: Callable[[], int] = now_us) -> ProcessReport:
    """Apply every due raw event to the mirror; safe to call from several workers at once."""
    owner = owner or worker_id()
    report = ProcessReport()
    lazy = _Fetchers(fetchers if fetchers is not None else default_fetchers(settings))
    refetch_chargebee = bool(getattr(settings, "chargebee_refetch_events", False))
    linker = AutoLinker(settings)
    while True:
        rows = store.claim_provider_events(db, owner, clock(), lease_us=LEASE_US, limit=limit)
        if not rows:
            if report.processed:
                with store.write_transaction(db):
                    notify.resolve_accounts(db)
            return report
        for row in rows:
            _process_row(db, row, lazy, owner, clock, report, refetch_chargebee, linker)


def _process_row(db, row: dict, fetchers: _Fetchers, owner: str, clock, report: ProcessReport,
                 refetch_chargebee: bool, linker: AutoLinker) -> None:
    try:
        event = json.loads(row["body"])
        if row["provider"] == "stripe":
            outcome = _process_stripe(db, row, event, fetchers, owner, clock, report, linker)
        else:
            if refetch_chargebee:
                confirmed = fetchers["chargebee"].fetch_event(row["event_id"])
                if confirmed is None:
                    raise EventRejected(f"Chargebee does not know event {row['event_id']}")
                event = confirmed
            outcome = _in_transaction(db, row, owner, clock, lambda: _apply_chargebee(db, event, linker))
    except Exception as exc:  # a provider outage or a malformed event: retry with backoff, then park it
        attempts = row["attempts"] + 1
        give_up = attempts >= MAX_ATTEMPTS or isinstance(exc, EventRejected)
        delay = min(RETRY_BASE_US * 2 ** (attempts - 1), RETRY_CAP_US)
        log.warning("provider event %s/%s attempt %d failed: %s", row["provider"], row["event_id"], attempts, exc)
        store.postpone_provider_event(db, row["id"], error=f"{type(exc).__name__}: {exc}",
                                      next_attempt_us=clock() + delay, give_up=give_up)
        if give_up:
            report.failed += 1
        else:
            report.postponed += 1
        return
    if outcome is None:
        return  # the lease expired and another worker has the event
    report.processed += 1
    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1


def _in_transaction(db, row: dict, owner: str, clock, apply: Callable[[], str]) -> str | None:
    with store.write_transaction(db):
        if not store.still_claimed(db, row["id"], owner, clock()):
            return None
        outcome = apply()
        store.finish_provider_event(db, row["id"], now_us=clock(), outcome=outcome)
    return outcome


# -------------------------------------------------------------------------- auto-link


class AutoLinker:
    """Links the account named in a subscription's metadata (``seatsync_account``) to that subscription.

    The link is recorded exactly like ``seatsync accounts link`` does (an
    ``account.linked`` event in the ledger, effective from the subscription's
    creation). Its plan is the account's current plan when it is already linked
    on this provider, else the catalogue plan (``mappings/``) whose seat price
    is on the subscription. Without such a plan nothing is linked: the mirror
    still carries the account, and notifications still name it.
    """

    def __init__(self, settings):
        self._settings = settings
        self._catalog: policy.Catalog | None = None

    def catalog(self) -> policy.Catalog | None:
        if self._catalog is None:
            try:
                self._catalog = policy.load_catalog(self._settings.mappings)
            except (policy.CatalogError, OSError) as exc:
                log.warning("auto-link: mappings unreadable, no link recorded: %s", exc)
                return None
        return self._catalog

    def __call__(self, db, provider: str, subscription: dict) -> str | None:
        row = mirror.subscription_row(subscription, provider)
        account = row["account"]
        if not account or row["deleted"]:
            return None
        existing = accounts.get_account(db, account)
        if existing is not None and existing.provider == provider and existing.subscription == row["id"]:
            return None
        catalog = self.catalog()
        if catalog is None:
            return None
        prices = {item["price"] for item in mirror.subscription_item_rows(subscription, provider)}
        plan = None
        if existing is not None and existing.provider == provider and existing.plan in catalog.plans:
            plan = catalog.plans[existing.plan]
        else:
            for candidate in catalog.plans.values():
                if candidate.provider == provider and set(candidate.seat.ids) & prices:
                    plan = candidate
                    break
        if plan is None:
            log.warning("auto-link: no %s plan in mappings has a seat price among %s; %s not linked",
                        provider, sorted(p for p in prices if p), account)
            return None
        created = subscription.get("created") if provider == "stripe" else subscription.get("created_at")
        try:
            accounts.link(db, account, provider=provider, subscription=row["id"], plan=plan.id,
                          timezone=plan.timezone, plans=catalog.plans, addons=catalog.addons,
                          at_us=int(created or 0) * 1_000_000)
        except IntakeError as exc:
            log.warning("auto-link: %s cannot be linked: %s", account, exc)
            return None
        return account


# ----------------------------------------------------------------------------- Stripe


def _process_stripe(db, row: dict, event: dict, fetchers: _Fetchers, owner: str, clock,
                    report: ProcessReport, linker: AutoLinker) -> str | None:
    obj = event["data"]["object"]
    object_type = obj.get("object")
    saver = mirror.STRIPE_SAVERS.get(object_type)
    version = event.get("created")
    if saver is None or not obj.get("id"):
        return _in_transaction(db, row, owner, clock, lambda: _stripe_notifications(db, event) or "ignored")
    if event["type"] in STRIPE_DELETIONS:
        def delete():
            saver(db, dict(obj, deleted=True), provider="stripe", version=version)
            store.mark_mirror_flag(db, mirror.STRIPE_SAVERS_TABLES[object_type], "stripe", [obj["id"]], "deleted")
            return "deleted"
        return _in_transaction(db, row, owner, clock, delete)

    lines = None
    if object_type == "invoice" and not mirror.stripe_lines_complete(obj):
        lines = fetchers["stripe"].fetch_invoice_lines(obj["id"])

    def apply_snapshot():
        kwargs = {"lines": lines} if object_type == "invoice" else {}
        saved = saver(db, obj, provider="stripe", version=version, **kwargs)
        if not saved.applied:
            return None
        if object_type == "subscription":
            linker(db, "stripe", obj)
        _stripe_notifications(db, event)
        return "applied"

    outcome = _in_transaction_or_stale(db, row, owner, clock, apply_snapshot)
    if outcome != "stale":
        return outcome
    # Not strictly newer than what we hold: the snapshot may be older than the
    # stored state, so the provider's current object decides (reference stripe.md §5).
    report.refetched += 1
    fetched = fetchers["stripe"].fetch_object(object_type, obj["id"])

    def apply_fetched():
        if fetched is None:
            store.mark_mirror_flag(db, mirror.STRIPE_SAVERS_TABLES[object_type], "stripe", [obj["id"]], "deleted")
        else:
            # A fetched invoice embeds all its lines (the fetcher pages them in).
            saver(db, fetched, provider="stripe", version=version, refetched=True)
            if object_type == "subscription":
                linker(db, "stripe", fetched)
        _stripe_notifications(db, event)
        return "refetched"

    return _in_transaction(db, row, owner, clock, apply_fetched)


def _in_transaction_or_stale(db, row: dict, owner: str, clock, apply: Callable[[], str | None]) -> str | None:
    """Like ``_in_transaction``, but an ``apply`` that returns None rolls back and reports ``"stale"``."""
    class _Stale(Exception):
        pass

    def guarded():
        outcome = apply()
        if outcome is None:
            raise _Stale
        return outcome

    try:
        return _in_transaction(db, row, owner, clock, guarded)
    except _Stale:
        return "stale"


def _stripe_account(db, subscription: str | None, obj: dict) -> str | None:
    if subscription:
        account = store.linked_account_for_subscription(db, "stripe", subscription)
        if account:
            return account
    metadata = ((obj.get("parent") or {}).get("subscription_details") or {}).get("metadata") \
        if obj.get("object") == "invoice" else obj.get("metadata")
    value = metadata.get(mirror.ACCOUNT_METADATA_KEY) if isinstance(metadata, dict) else None
    return str(value) if value else None


def _stripe_notifications(db, event: dict) -> None:
    """Queue the product notifications a Stripe event implies (each at most once per object and type)."""
    obj = event["data"]["object"]
    kind = event["type"]
    if kind in ("invoice.paid", "invoice.payment_failed"):
        row = mirror.invoice_row(obj, "stripe")
        data = notify.invoice_data(row)
        if kind == "invoice.payment_failed":
            data |= {"attempt_count": obj.get("attempt_count"), "next_payment_attempt": obj.get("next_payment_attempt")}
        notify.enqueue_notification(db, kind, _stripe_account(db, row["subscription"], obj), data,
                                    dedupe_key=f"stripe:{kind}:{obj['id']}")
    elif kind in ("customer.subscription.created", "customer.subscription.updated") and obj.get("status") == "past_due":
        row = mirror.subscription_row(obj, "stripe")
        notify.enqueue_notification(db, "subscription.past_due", _stripe_account(db, obj["id"], obj),
                                    notify.subscription_data(row),
                                    dedupe_key=f"stripe:subscription.past_due:{obj['id']}:{row['past_due_since']}")
    elif kind == "credit_note.created":
        row = mirror.credit_note_row(obj, "stripe")
        invoice = store.mirror_row(db, "mirror_invoices", "stripe", row["invoice"]) if row["invoice"] else None
        subscription = invoice["subscription"] if invoice else None
        notify.enqueue_notification(db, "credit.issued", _stripe_account(db, subscription, obj),
                                    notify.credit_data(row | {"subscription": subscription}),
                                    dedupe_key=f"stripe:credit.issued:{obj['id']}")


# -------------------------------------------------------------------------- Chargebee


def _as_list(value: Any) -> list[dict]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _apply_chargebee(db, event: dict, linker: AutoLinker) -> str:
    content = event.get("content") or {}
    kind = event.get("event_type", "")
    invoice_id = (content.get("invoice") or {}).get("id") if isinstance(content.get("invoice"), dict) else None
    applied = 0
    for key, saver in mirror.CHARGEBEE_SAVERS.items():
        for obj in _as_list(content.get(key)):
            if saver is mirror.save_pending_charge:
                invoiced = invoice_id if kind == "unbilled_charges_invoiced" else None
                applied += saver(db, obj, provider="chargebee", invoice=invoiced).applied
                if invoiced:
                    store.mark_pending_charges_invoiced(db, "chargebee", [obj["id"]], invoiced)
                # Deleted and voided never revert, so they hold whatever the version says
                # (unbilled charges may lack resource_version, and updated_at has 1 s resolution).
                if kind == "unbilled_charges_deleted" or obj.get("deleted"):
                    store.mark_mirror_flag(db, "mirror_pending_charges", "chargebee", [obj["id"]], "deleted")
                if kind == "unbilled_charges_voided" or obj.get("is_voided"):
                    store.mark_mirror_flag(db, "mirror_pending_charges", "chargebee", [obj["id"]], "voided")
            else:
                saved = saver(db, obj, provider="chargebee")
                applied += saved.applied
                if saved.applied and key == "subscription":
                    linker(db, "chargebee", obj)
    _chargebee_notifications(db, event)
    return "applied" if applied else "stale"


def _chargebee_account(db, subscription: dict | None, subscription_id: str | None) -> str | None:
    if subscription_id:
        account = store.linked_account_for_subscription(db, "chargebee", subscription_id)
        if account:
            return account
    return mirror.subscription_account(subscription, "chargebee") if subscription else None


def _chargebee_notifications(db, event: dict) -> None:
    content = event.get("content") or {}
    kind = event.get("event_type", "")
    invoice = content.get("invoice") if isinstance(content.get("invoice"), dict) else None
    subscription = content.get("subscription") if isinstance(content.get("subscription"), dict) else None
    if invoice is not None:
        row = mirror.invoice_row(invoice, "chargebee")
        account = _chargebee_account(db, subscription, row["subscription"])
        if invoice.get("status") == "paid" and kind in ("payment_succeeded", "invoice_generated", "invoice_updated",
                                                        "invoice_generated_with_backdating"):
            notify.enqueue_notification(db, "invoice.paid", account, notify.invoice_data(row),
                                        dedupe_key=f"chargebee:invoice.paid:{invoice['id']}")
        if kind == "payment_failed":
            data = notify.invoice_data(row) | {"attempt_count": None,
                                               "next_payment_attempt": invoice.get("next_retry_at")}
            notify.enqueue_notification(db, "invoice.payment_failed", account, data,
                                        dedupe_key=f"chargebee:invoice.payment_failed:{invoice['id']}")
    if subscription is not None:
        row = mirror.subscription_row(subscription, "chargebee")
        # A snapshot next to a paid invoice is not news of a failure, whatever its due count.
        if (subscription.get("due_invoices_count") or 0) > 0 and (invoice or {}).get("status") != "paid":
            # One notification per episode: dated by due_since, else by the invoice that fell due.
            episode = subscription.get("due_since") or (invoice or {}).get("id") or "unknown"
            notify.enqueue_notification(
                db, "subscription.past_due", _chargebee_account(db, subscription, subscription["id"]),
                notify.subscription_data(row),
                dedupe_key=f"chargebee:subscription.past_due:{subscription['id']}:{episode}")
    if kind in ("credit_note_created", "credit_note_created_with_backdating"):
        for note in _as_list(content.get("credit_note")) + _as_list(content.get("credit_notes")):
            row = mirror.credit_note_row(note, "chargebee")
            notify.enqueue_notification(db, "credit.issued", _chargebee_account(db, subscription, row["subscription"]),
                                        notify.credit_data(row), dedupe_key=f"chargebee:credit.issued:{note['id']}")
