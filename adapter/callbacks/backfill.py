"""``seatsync backfill``: build the mirror from the provider's list APIs, resumably.

Each list (subscriptions, invoices, pending items, credit notes, payments) is
walked in the provider's order; every object is saved and its cursor recorded
in the same transaction, so an interrupted backfill started again with the same
``--provider``/``--since`` continues after the last saved object (Stripe:
``starting_after``; Chargebee: the page's ``offset``, whose objects are saved
again harmlessly). Customers named by the saved objects are fetched last.
When every list is done the cursors are removed, so the next run starts over.

Listed objects are the provider's current state, so they are saved as
re-fetched truth. For Stripe their ordering version is the ``created`` of the
provider's newest event when the run started: a webhook event from before the
backfill then makes the worker re-fetch instead of overwriting newer state
(adapter/mirror.py). Chargebee objects carry their own ``resource_version``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlite_utils

from adapter import store
from adapter.callbacks import events as provider_events
from adapter.callbacks import mirror
from adapter.providers import registry

log = logging.getLogger(__name__)

DONE = "done"


class Source(Protocol):
    provider: str
    lists: tuple[str, ...]

    def list(self, resource: str, since: int | None, cursor: str | None) -> Iterator[tuple[str, dict]]: ...

    def fetch_customer(self, customer_id: str) -> dict | None: ...

    def version_marker(self) -> int | None: ...

    def unavailable(self, exc: Exception) -> bool: ...

    def kind(self, resource: str) -> str:
        """The mirrored kind of a listed resource."""

    def save_options(self, version: int | None) -> dict:
        """How a listed object is saved: the provider's current state, under its ordering guard."""


def source_for(settings, provider: str) -> Source:
    return registry.get(provider).backfill_source(settings)


@dataclass(frozen=True)
class Step:
    resource: str
    object_id: str


@dataclass
class BackfillReport:
    saved: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    complete: bool = False


def run_key(provider: str, since: int | None) -> str:
    return f"backfill:{provider}:{since if since is not None else 'all'}:"


def backfill(db: sqlite_utils.Database, settings, source: Source, *, since: int | None = None,
             report: BackfillReport | None = None, clock: Callable[[], int] = provider_events.now_us) -> Iterator[Step]:
    """Save every listed object, yielding one ``Step`` per committed object (for a progress bar)."""
    report = report if report is not None else BackfillReport()
    provider = source.provider
    key = run_key(provider, since)
    linker = provider_events.AutoLinker(settings)
    marker_key = key + "version"
    marker = store.get_watermark(db, marker_key)
    if marker is None:
        found = source.version_marker()
        marker = str(found) if found is not None else ""
        with store.write_transaction(db):
            store.set_watermark(db, marker_key, marker, clock())
    version = int(marker) if marker else None

    for resource in source.lists:
        cursor = store.get_watermark(db, key + resource)
        if cursor == DONE:
            continue
        if cursor is not None:
            report.resumed.append(resource)
        try:
            for next_cursor, obj in source.list(resource, since, cursor or None):
                with store.write_transaction(db):
                    _save(db, source, source.kind(resource), obj, version, linker)
                    store.set_watermark(db, key + resource, next_cursor, clock())
                report.saved[resource] = report.saved.get(resource, 0) + 1
                yield Step(resource, obj["id"])
        except Exception as exc:
            if not source.unavailable(exc):
                raise
            log.warning("backfill: %s %s is not served by this API base; skipped", provider, resource)
            report.skipped.append(resource)
        with store.write_transaction(db):
            store.set_watermark(db, key + resource, DONE, clock())

    cursor = store.get_watermark(db, key + "customers")
    if cursor != DONE:
        for customer_id in store.referenced_customers(db, provider):
            if cursor is not None and customer_id <= cursor:
                continue
            customer = source.fetch_customer(customer_id)
            with store.write_transaction(db):
                if customer is not None:
                    _save(db, source, "customer", customer, version, linker)
                store.set_watermark(db, key + "customers", customer_id, clock())
            report.saved["customers"] = report.saved.get("customers", 0) + 1
            yield Step("customers", customer_id)
    with store.write_transaction(db):
        store.delete_watermarks(db, key)
    report.complete = True


def _save(db, source: Source, kind: str, obj: dict, version: int | None, linker) -> None:
    mirror.save(db, kind, obj, provider=source.provider, **source.save_options(version))
    if kind == "subscription":
        linker(db, source.provider, obj)


def run(db: sqlite_utils.Database, settings, provider: str, *, since: int | None = None,
        report: BackfillReport | None = None) -> Iterator[Step]:
    """``backfill`` with the provider's real source (what ``seatsync backfill`` runs)."""
    return backfill(db, settings, source_for(settings, provider), since=since, report=report)


def describe(report: BackfillReport) -> dict[str, Any]:
    return {"complete": report.complete, "saved": dict(sorted(report.saved.items())),
            "skipped": report.skipped, "resumed": report.resumed}
