"""The sync worker: leases due accounts and syncs each with its provider.

Any number of workers (threads here, processes via ``seatsync worker``) can
run against one database: an account is worked by whoever holds its lease,
and a lease that is not released (the worker died) expires. Accounts proceed
in parallel; one account's calls go out one at a time, in version order.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypedDict

import sqlite_utils

from adapter import clock, store
from adapter.billing.policy import Catalog, load_catalog
from adapter.callbacks import notify
from adapter.config import Settings
from adapter.providers import registry
from adapter.reconcile import runs as reconcile_runs
from adapter.reconcile.clocks import provider_clocks
from adapter.sync.account import Drift, Outcome, Provider, SyncOptions, sync_account

log = logging.getLogger(__name__)

SECOND_US = 1_000_000


def providers_from_settings(settings: Settings) -> dict[str, Provider]:
    """The configured providers' seat clients (an account on an unconfigured one is dead-lettered)."""
    clients: dict[str, Provider] = dict(registry.seat_clients(settings).items())
    return clients


@dataclass
class WorkerConfig:
    coalesce_delay: float = 2.0  # seconds an account must be quiet before its changes are planned
    max_wait: float = 30.0  # ...but no change waits longer than this, however long a burst goes on
    lease: float = 15.0  # seconds; renewed every third of it while an account is worked on
    poll: float = 0.5
    threads: int = 4
    batch: int = 16
    retry_backoff: float = 60.0  # seconds before an account whose provider failed transiently is tried again
    recheck: float = 5.0  # seconds before an account with changes ahead of its provider's clock is looked at again
    reconcile_poll: float = 5.0  # seconds between looks at whether a stored reconcile run is due
    sync: SyncOptions = field(default_factory=SyncOptions)


class Claim(TypedDict):
    """An account this worker leased, the ledger version it saw and when (our clock)."""

    account: str
    ledger_version: int
    claimed_us: int


class Heartbeat:
    """Renews the leases of the accounts this worker is working on, every third of the lease.

    A lease only has to outlive the gap between two renewals, not a whole pass (which can wait on the
    provider's rate limit or on retries), so it can be short: a killed worker's accounts resume
    within one lease. The thread runs while some account is held and stops when none is.
    """

    def __init__(self, worker: Worker):
        self.worker = worker
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    @contextmanager
    def holding(self, account: str) -> Iterator[None]:
        with self._lock:
            self._held.add(account)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="seatsync-lease", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(account)

    def _run(self) -> None:
        db = store.open_db(self.worker.settings.database, migrate=False)
        try:
            interval = self.worker.config.lease / 3
            while not self._wake.wait(interval):
                with self._lock:
                    held = sorted(self._held)
                if not held:
                    return
                try:
                    store.renew_leases(db, self.worker.owner, held, self.worker.now_us(),
                                       lease_us=int(self.worker.config.lease * SECOND_US))
                except Exception:  # the next beat tries again; a lease that runs out is taken over safely
                    log.exception("renewing the leases of %s failed", ", ".join(held))
        finally:
            with self._lock:
                self._thread = None
            db.close()


class Worker:
    def __init__(self, settings: Settings, *, catalog: Catalog | None = None,
                 providers: dict[str, Provider] | None = None, config: WorkerConfig | None = None,
                 owner: str | None = None, now_us: Callable[[], int] = clock.now_us):
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.mappings)
        self.providers = providers if providers is not None else providers_from_settings(settings)
        self.config = config or WorkerConfig()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.now_us = now_us
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=self.config.threads, thread_name_prefix="seatsync-sync")
        self._heartbeat = Heartbeat(self)

    def _db(self) -> sqlite_utils.Database:
        # One connection per thread: sqlite3 connections are not shared across threads here.
        if not hasattr(self._local, "db"):
            self._local.db = store.open_db(self.settings.database, migrate=False)
        db: sqlite_utils.Database = self._local.db
        return db

    def run_once(self) -> list[Outcome]:
        """Sync what is due, then return what each account's pass did.

        Each thread claims one account at a time as it frees up (no thread waits for the slowest
        account of a batch), up to ``batch`` accounts per thread; an account is claimed again only if it
        became due again (new changes, a retry that is due).
        """
        futures = [self._pool.submit(self._drain) for _ in range(self.config.threads)]
        outcomes: list[Outcome] = []
        for future in futures:
            outcomes += future.result()
        return outcomes

    def _drain(self) -> list[Outcome]:
        try:
            return self._drain_with(self._db())
        except Exception as exc:
            self._reopen_if_faulted(exc)  # this pool thread's connection; the pass fails as before
            raise

    def _drain_with(self, db: sqlite_utils.Database) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for _ in range(self.config.batch):
            claimed_us = self.now_us()
            claims = store.claim_due_accounts(db, self.owner, claimed_us,
                                              delay_us=int(self.config.coalesce_delay * SECOND_US),
                                              max_wait_us=int(max(self.config.max_wait, self.config.coalesce_delay)
                                                              * SECOND_US),
                                              lease_us=int(self.config.lease * SECOND_US), limit=1,
                                              exclude_owner=True)
            if not claims:
                break
            outcomes.append(self._work(Claim(account=claims[0]["account"],
                                             ledger_version=claims[0]["ledger_version"], claimed_us=claimed_us)))
        return outcomes

    def run_callbacks_once(self) -> None:
        """The provider side: settle received provider events into the mirror, sweep for
        missed ones on schedule, deliver due product notifications. Each is idempotent and
        safe with several workers; a failure in one does not stop the others."""
        from adapter.callbacks import events as provider_events
        from adapter.callbacks import notify, price_notices, sweeper

        db = self._db()
        for name, task in (
            ("provider events", lambda: provider_events.process_pending_provider_events(db, self.settings,
                                                                                        owner=self.owner)),
            ("sweeper", lambda: sweeper.sweep_if_due(db, self.settings)),
            ("price notices", lambda: price_notices.notify_price_changes(db, self.catalog, at_us=self.now_us())),
            ("notifications", lambda: notify.deliver_due_notifications(db, self.settings, owner=self.owner)),
            ("planner statistics", lambda: store.optimize_if_due(db, self.now_us())),
        ):
            try:
                task()
            except Exception:
                log.exception("worker task %s failed", name)

    def run_reconcile_if_due(self, stopping: Callable[[], bool] | None = None) -> int | None:
        """The scheduled reconcile run (issue 11 item 2), when ``SEATSYNC_RECONCILE_INTERVAL`` has passed since
        the last one began (any process's) and no other run holds the lease: run and store it; its id, else None.

        It runs in its own thread beside seat sync (``run_forever``), never inside a request."""
        interval = self.settings.reconcile_interval
        db = self._db()
        # "Run reconcile now" on the ops pages (webhooks/ops_actions.py) brings the run forward, even when
        # scheduled runs are off; the request counts as served once this worker starts on it.
        requested = store.reconcile_request(db)
        if interval <= 0 and requested is None:
            return None
        if requested is not None:
            store.serve_reconcile_request(db, requested, self.now_us())
        # Each account's now is its provider's clock when it has one (a test clock ahead of ours), read
        # through this worker's seat clients.
        return reconcile_runs.run_scheduled(db, self.catalog, owner=self.owner, now_us=self.now_us,
                                            interval_us=None if requested is not None else int(interval * SECOND_US),
                                            stopping=stopping, clock=provider_clocks(db, self.providers))

    def _reconcile_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_reconcile_if_due(stopping=stop.is_set)
            except reconcile_runs.RunStopped:
                return
            except Exception as exc:  # recorded as a failed run; the next interval tries again
                log.exception("scheduled reconcile run failed")
                self._reopen_if_faulted(exc)
            stop.wait(self.config.reconcile_poll)

    def _work(self, claim: Claim) -> Outcome:
        with self._heartbeat.holding(claim["account"]):
            return self._work_leased(claim)

    def _work_leased(self, claim: Claim) -> Outcome:
        db = self._db()
        account = claim["account"]
        try:
            outcome = sync_account(db, self.catalog, self.providers, account=account,
                                   claimed_version=claim["ledger_version"], owner=self.owner, now_us=self.now_us,
                                   options=self.config.sync, on_drift=lambda drift: self._drift(db, drift))
        except Exception:
            # A bug, not a provider failure: keep the lease's work for a later pass and say so loudly.
            log.exception("sync of account %s failed", account)
            store.release_account(db, account, self.owner, synced_version=None,
                                  next_attempt_us=self.now_us() + int(self.config.retry_backoff * SECOND_US))
            return Outcome(account, deferred=True)
        if outcome.deferred and outcome.retry_at_us is not None:
            next_attempt = outcome.retry_at_us
        elif outcome.deferred:
            next_attempt = self.now_us() + int(self.config.retry_backoff * SECOND_US)
        elif outcome.waiting:
            next_attempt = self.now_us() + int(self.config.recheck * SECOND_US)
        else:
            next_attempt = 0
        store.release_account(db, account, self.owner, synced_version=outcome.synced_version,
                              next_attempt_us=next_attempt, claimed_us=claim.get("claimed_us"))
        return outcome

    def _drift(self, db: sqlite_utils.Database, drift: Drift) -> None:
        log.warning("seat drift on %(subscription)s: expected %(expected)s, provider has %(actual)s", drift)
        notify.enqueue_notification(db, "seats.drift_detected", drift["account"], dict(drift))

    def run_forever(self, stop: threading.Event) -> None:
        log.info("sync worker %s started", self.owner)
        reconciler = None
        if self.settings.reconcile_interval > 0:
            reconciler = threading.Thread(target=self._reconcile_forever, args=(stop,), name="seatsync-reconcile",
                                          daemon=True)
            reconciler.start()
        while not stop.is_set():
            self._beat()
            try:
                outcomes = self.run_once()
            except Exception as exc:
                log.exception("sync worker pass failed")
                self._reopen_if_faulted(exc)
                outcomes = []
            self.run_callbacks_once()
            if not outcomes:
                stop.wait(self.config.poll)
        self._pool.shutdown(wait=True)
        if reconciler is not None:  # a run in progress stops at its next account, recorded as failed
            reconciler.join(timeout=self.config.lease)
        try:
            store.forget_worker(self._db(), self.owner)
        except Exception:  # noqa: BLE001 - stopping anyway; the heartbeat goes stale instead
            log.warning("could not remove the heartbeat of %s", self.owner)

    def _beat(self) -> None:
        """The heartbeat /readyz reads: this worker's loop is turning."""
        try:
            store.beat(self._db(), self.owner, self.now_us())
        except Exception as exc:  # noqa: BLE001 - a store fault: readiness shows it, the loop goes on
            log.warning("worker heartbeat not written: %s", exc)
            self._reopen_if_faulted(exc)

    def _reopen_if_faulted(self, exc: BaseException) -> None:
        """This thread's connection saw a store fault: open a fresh one next time (a connection can keep
        failing after the fault clears)."""
        if store.fault_of(exc) is not None and hasattr(self._local, "db"):
            try:
                self._local.db.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail too
                pass
            del self._local.db
