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
  Event objects are generated" for one change (docs/stripe.md#webhook-delivery). The key
  also includes a digest of ``data.object``, ``data.previous_attributes`` and
  ``created``: two ``customer.subscription.updated`` events for one subscription
  are normally two different changes (even with identical snapshots, A → B → A),
  and only the same change at the same second is the same change twice.

Ordering: see adapter/mirror.py. For Stripe an event whose ``created`` is not
strictly newer than the stored state makes the worker re-fetch the object.
Chargebee events are optionally re-fetched by id before they are trusted
(``CHARGEBEE_WEBHOOK_REFETCH``): done here in the worker rather than in the
receiver, because a provider call inside the request risks the webhook's
timeout (the Chargebee maintainer's warning, docs/chargebee.md#webhooks).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import sqlite_utils

from adapter import accounts, metrics, store
from adapter.billing import policy
from adapter.callbacks import mirror, notify
from adapter.clock import now_us
from adapter.intake.parse import IntakeError
from adapter.ledger import LinkConflict
from adapter.providers import registry
from adapter.providers.base import Save

log = logging.getLogger(__name__)

LEASE_US = 60 * 1_000_000
MAX_ATTEMPTS = 10
RETRY_BASE_US = 5 * 1_000_000
RETRY_CAP_US = 60 * 60 * 1_000_000



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


def intake_row(provider: str, event: dict, body: bytes | str, *, source: str, received_us: int | None = None) -> dict:
    """The raw-event row for one verified provider event (its columns come from the provider)."""
    return {"provider": provider, **registry.get(provider).events.intake_row(event),
            "body": body.decode() if isinstance(body, bytes) else body,
            "source": source, "received_us": now_us() if received_us is None else received_us}


def record_event(db: sqlite_utils.Database, provider: str, event: dict, body: bytes | str, *,
                 source: str = "webhook") -> bool:
    """Commit a verified provider event; ``False`` when it is a duplicate."""
    stored = store.insert_provider_event(db, intake_row(provider, event, body, source=source))
    metrics.PROVIDER_EVENTS_RECEIVED.labels(provider, "new" if stored else "duplicate").inc()
    return stored


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
    return {provider.name: partial(provider.fetcher, settings) for provider in registry.providers()}


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
    verified = {p.name for p in registry.providers() if p.refetches_events(settings)}
    linker = AutoLinker(settings)
    while True:
        rows = store.claim_provider_events(db, owner, clock(), lease_us=LEASE_US, limit=limit)
        if not rows:
            if report.processed:
                with store.write_transaction(db):
                    notify.resolve_accounts(db)
            return report
        for row in rows:
            _process_row(db, row, lazy, owner, clock, report, row["provider"] in verified, linker)


def _process_row(db, row: dict, fetchers: _Fetchers, owner: str, clock, report: ProcessReport,
                 refetch_event: bool, linker: AutoLinker) -> None:
    try:
        event = json.loads(row["body"])
        if refetch_event:  # trust only the provider's own copy of the event
            confirmed = fetchers[row["provider"]].fetch_event(row["event_id"])
            if confirmed is None:
                raise EventRejected(f"{row['provider']} does not know event {row['event_id']}")
            event = confirmed
        outcome = _apply(db, row, event, fetchers, owner, clock, report, linker)
    except Exception as exc:  # a provider outage or a malformed event: retry with backoff, then park it
        attempts = row["attempts"] + 1
        give_up = attempts >= MAX_ATTEMPTS or isinstance(exc, EventRejected)
        delay = min(RETRY_BASE_US * 2 ** (attempts - 1), RETRY_CAP_US)
        log.warning("provider event %s/%s attempt %d failed: %s", row["provider"], row["event_id"], attempts, exc)
        store.postpone_provider_event(db, row["id"], error=f"{type(exc).__name__}: {exc}",
                                      next_attempt_us=clock() + delay, give_up=give_up)
        metrics.PROVIDER_EVENTS_APPLIED.labels(row["provider"], "failed" if give_up else "postponed").inc()
        if give_up:
            report.failed += 1
        else:
            report.postponed += 1
        return
    if outcome is None:
        return  # the lease expired and another worker has the event
    report.processed += 1
    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    metrics.PROVIDER_EVENTS_APPLIED.labels(row["provider"], outcome).inc()


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
        if existing is None and store.latest_unlink(db, account):
            # The product unlinked this account on purpose: stale metadata must not link it back.
            log.info("auto-link: %s was unlinked by the product; its metadata on %s is ignored", account, row["id"])
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
        created = registry.get(provider).normalize.subscription_created(subscription)
        try:
            accounts.link(db, account, provider=provider, subscription=row["id"], plan=plan.id,
                          timezone=plan.timezone, plans=catalog.plans, addons=catalog.addons,
                          at_us=int(created or 0) * 1_000_000)
        except IntakeError as exc:
            log.warning("auto-link: %s cannot be linked: %s", account, exc)
            return None
        except LinkConflict as exc:
            # Metadata naming another account never moves a linked subscription (a takeover, or a typo in
            # the provider's dashboard): the product must unlink the holder first.
            log.warning("auto-link: %s not linked: %s", account, exc.errors[0]["reason"])
            return None
        return account


# ------------------------------------------------------------------------- applying


def _apply(db, row: dict, event: dict, fetchers: _Fetchers, owner: str, clock, report: ProcessReport,
           linker: AutoLinker) -> str | None:
    """Do what the provider says an event means (``effects``): mirror its objects, queue notifications."""
    provider = row["provider"]
    effects = registry.get(provider).events.effects(event)
    lines = {save.obj["id"]: fetchers[provider].fetch_invoice_lines(save.obj["id"])
             for save in effects.saves if save.lines_needed}

    def apply() -> str | None:
        applied = [_save(db, provider, save, linker, lines.get(save.obj.get("id"))) for save in effects.saves]
        if effects.deletion:
            outcome = "deleted"
        elif not effects.saves:
            outcome = "ignored"
        elif any(applied):
            outcome = "applied"
        elif effects.refetch is not None:
            return None  # not newer than the stored state: the provider's current object decides
        else:
            outcome = "stale"
        _notify(db, provider, effects.notices)
        return outcome

    outcome = _in_transaction_or_stale(db, row, owner, clock, apply)
    if outcome != "stale" or effects.refetch is None:
        return outcome
    # The snapshot may be older than the stored state (events are not ordered): save the provider's
    # current object as the truth (docs/stripe.md#webhook-delivery).
    report.refetched += 1
    object_type, object_id = effects.refetch
    fetched = fetchers[provider].fetch_object(object_type, object_id)
    first = effects.saves[0]

    def apply_fetched() -> str:
        if fetched is None:
            store.mark_mirror_flag(db, mirror.KINDS[first.kind][1], provider, [object_id], "deleted")
        else:
            # A fetched invoice embeds all its lines (the fetcher pages them in).
            mirror.save(db, first.kind, fetched, provider=provider, version=first.version, refetched=True)
            if first.link:
                linker(db, provider, fetched)
        _notify(db, provider, effects.notices)
        return "refetched"

    return _in_transaction(db, row, owner, clock, apply_fetched)


def _save(db, provider: str, save: Save, linker: AutoLinker, lines: list[dict] | None) -> bool:
    options: dict = {"version": save.version}
    if lines is not None:
        options["lines"] = lines
    if save.invoiced_by:
        options["invoice"] = save.invoiced_by
    saved = mirror.save(db, save.kind, save.obj, provider=provider, **options)
    if save.invoiced_by:
        store.mark_pending_charges_invoiced(db, provider, [save.obj["id"]], save.invoiced_by)
    for flag in save.flags:
        store.mark_mirror_flag(db, mirror.KINDS[save.kind][1], provider, [save.obj["id"]], flag)
    if saved.applied and save.link:
        linker(db, provider, save.obj)
    return saved.applied


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


DATA = {"invoice": (mirror.invoice_row, notify.invoice_data),
        "subscription": (mirror.subscription_row, notify.subscription_data),
        "credit": (mirror.credit_note_row, notify.credit_data)}


def _notify(db, provider: str, notices) -> None:
    """Queue the product notifications an event implies (each at most once per object and type)."""
    for notice in notices:
        to_row, to_data = DATA[notice.data]
        row = to_row(notice.obj, provider)
        subscription = notice.subscription
        if notice.subscription_from_invoice:
            invoice = store.mirror_row(db, "mirror_invoices", provider, notice.subscription_from_invoice)
            subscription = invoice["subscription"] if invoice else None
            row = row | {"subscription": subscription}
        account = store.linked_account_for_subscription(db, provider, subscription) if subscription else None
        notify.enqueue_notification(db, notice.type, account or notice.metadata_account,
                                    to_data(row) | notice.extra, dedupe_key=notice.dedupe_key)
