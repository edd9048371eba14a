"""The missed-event sweeper: list the provider's events since a watermark and feed the unseen ones in.

A webhook can be lost for good (endpoint down past the provider's retries, a
network drop, a provider-side failure). The worker calls ``sweep_if_due`` on a
schedule; each sweep lists the provider's events from the stored watermark
minus an overlap, records every event not yet stored through the same
idempotent intake as the receivers (``source = 'sweeper'``), and moves the
watermark to the newest ``created``/``occurred_at`` seen. Processing then
happens in ``process_pending_provider_events`` like any other event.

- Stripe: ``GET /v1/events?delivery_success=false`` (events still pending or
  failed at an endpoint: Stripe's documented recovery listing, see
  docs/stripe.md#missed-events) from the watermark minus three days, Stripe's live retry
  horizon, because an undelivered event may be older than the newest one seen.
- Chargebee: ``GET /api/v2/events`` sorted by ``occurred_at`` from the
  watermark minus ten minutes (listing lag); Chargebee has no delivery filter
  that covers both pending and failed attempts in one call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import sqlite_utils

from adapter import store
from adapter.callbacks import events as provider_events
from adapter.providers import registry

log = logging.getLogger(__name__)

SWEEP_INTERVAL_US = 5 * 60 * 1_000_000

EventLister = Callable[[int | None], Iterable[dict]]


@dataclass
class SweepReport:
    provider: str
    listed: int = 0
    recovered: int = 0
    watermark: int | None = None


def watermark_key(provider: str) -> str:
    return f"sweeper:{provider}:watermark"


def last_run_key(provider: str) -> str:
    return f"sweeper:{provider}:last_run_us"


def sweep(db: sqlite_utils.Database, provider: str, list_events: EventLister, *, now_us: int) -> SweepReport:
    """One sweep: ``list_events(since)`` yields the provider's events with ``created >= since``."""
    report = SweepReport(provider)
    stored = store.get_watermark(db, watermark_key(provider))
    watermark = int(stored) if stored is not None else None
    facts = registry.get(provider)
    since = watermark - facts.sweep_overlap_seconds if watermark is not None else None
    newest = watermark
    events = list(list_events(since))
    report.listed = len(events)
    known = store.known_provider_event_ids(db, provider, [e["id"] for e in events])
    for event in events:
        created = facts.events.created(event)
        if isinstance(created, int):
            newest = created if newest is None else max(newest, created)
        if event["id"] in known:
            continue
        if provider_events.record_event(db, provider, event, json.dumps(event, separators=(",", ":")),
                                        source="sweeper"):
            report.recovered += 1
            log.info("sweeper recovered %s event %s (%s)", provider, event["id"], event.get("type")
                     or event.get("event_type"))
    with store.write_transaction(db):
        if newest is not None:
            store.set_watermark(db, watermark_key(provider), str(newest), now_us)
        store.set_watermark(db, last_run_key(provider), str(now_us), now_us)
    report.watermark = newest
    return report


def provider_listers(settings) -> dict[str, EventLister]:
    """Event listers for every provider with an API key (the SDKs load only when used)."""
    return {p.name: partial(p.list_events, settings) for p in registry.providers() if p.configured(settings)}


def sweep_if_due(db: sqlite_utils.Database, settings, *, now_us: int | None = None,
                 listers: dict[str, EventLister] | None = None,
                 interval_us: int = SWEEP_INTERVAL_US) -> list[SweepReport]:
    """Sweep each configured provider whose last sweep is ``interval_us`` old; the worker calls this every tick."""
    now_us = provider_events.now_us() if now_us is None else now_us
    reports = []
    for provider, lister in (listers if listers is not None else provider_listers(settings)).items():
        last = store.get_watermark(db, last_run_key(provider))
        if last is not None and now_us - int(last) < interval_us:
            continue
        try:
            reports.append(sweep(db, provider, lister, now_us=now_us))
        except Exception as exc:  # a provider outage: try again after the interval, not every tick
            log.warning("sweeper: %s listing failed: %s", provider, exc)
            with store.write_transaction(db):
                store.set_watermark(db, last_run_key(provider), str(now_us), now_us)
    return reports
