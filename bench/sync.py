"""Seat sync benchmark: a 5,000-activation burst, accounts synced per second against the rate ceiling,
and the simulated-product workload at bench size, each on Stripe and Chargebee, in one run.

- **Burst.** 5,000 activations in one account within 60 s (simulated time, arriving in chunks every
  half second, a worker pass after each on the default coalescing), against the sandbox with its
  documented limits: writes, 429s the worker saw, seconds from the last activation until the provider
  holds the ledger's count, the highest quantity pushed against the ledger's highest, and the money
  against one-by-one billing.
- **Rate ceiling.** N accounts with one change each, synced by one worker (8 threads) against the
  sandbox's own limit (Stripe 25 requests/s, Chargebee 150/min), wall-clock time. The ceiling is the
  limit divided by the requests one account's pass takes (counted in the same run), and the same run
  repeats without pacing as the baseline: accounts/s, share of the ceiling, share of 429s, accounts
  parked by a rate limit.
- **Workload.** tests/support/workload.py at bench size: every seed policy on both providers, N accounts,
  D days: writes, passes, quantity-range violations (must be 0), writes from re-planning a settled
  account (must be 0), and the largest money error in minor units against the proration lines written.
"""

from __future__ import annotations

import collections
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import sqlite_utils
import stripe
from chargebee import Chargebee

from adapter.providers.chargebee.client import chargebee_client
from adapter.providers.stripe.client import stripe_client
from tests.support import scenarios as S
from tests.support.sandbox_fixtures import pool_chargebee_http, start_sandbox
from tests.support.workload import Workload

POLICIES = ("000", "001", "002")
PROVIDERS = ("stripe", "chargebee")


class Counting:
    """Counts the sandbox's answers by status: what the provider saw, not what the worker reports."""

    def __init__(self, app):
        self.statuses: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        inner = app.wsgi_app

        def counted(environ, start_response):
            def record(status, headers, *args):
                if environ["PATH_INFO"].startswith(("/v1/", "/api/")):
                    with self._lock:
                        self.statuses[int(status.split()[0])] += 1
                return start_response(status, headers, *args)

            return inner(environ, record)

        app.wsgi_app = counted

    def take(self) -> collections.Counter:
        with self._lock:
            taken, self.statuses = self.statuses, collections.Counter()
        return taken


def _db(harness: S.Harness) -> sqlite_utils.Database:
    """The harness's database (the support world types it loosely; it is set when the harness is built)."""
    if not isinstance(harness.db, sqlite_utils.Database):
        raise RuntimeError("the harness has no database")
    return harness.db


def _harness(provider: str, policy: str, sandbox, tmp: Path, *, pacing: bool) -> S.Harness:
    if provider == "stripe":
        harness = S.stripe_harness(tmp, sandbox, stripe.StripeClient("sk_test_sandbox",
                                                                     base_addresses={"api": sandbox.url}))
        harness.settings = replace(harness.settings, stripe_rate_limit=24.0 if pacing else None)
        # The simulation's own requests (clock moves) share the key's budget, as a product's would.
        harness.client = stripe_client(harness.settings)
        return harness
    Chargebee.verify_ca_certs = False
    client = Chargebee(api_key="test_sandbox", site="127", chargebee_domain=f"0.0.1:{sandbox.port}", protocol="http")
    day = policy == "000"
    harness = S.chargebee_harness(tmp, sandbox, client, billing_mode="day" if day else "millisecond",
                                  timezone_name="Europe/Oslo" if day else "UTC")
    harness.control("chargebee/settings", {"rate_limit_per_minute": 150})
    harness.settings = replace(harness.settings, chargebee_rate_limit=140 / 60 if pacing else None)
    harness.client = chargebee_client(harness.settings)
    return harness


def _limits(sandbox, provider: str, *, on: bool) -> None:
    import httpx

    if provider == "stripe":
        body = {"requests_per_second": 25 if on else None, "quantity_updates_per_hour": 200 if on else None}
        httpx.post(f"{sandbox.url}/_sandbox/stripe/limits", json=body, timeout=10).raise_for_status()
    else:
        httpx.post(f"{sandbox.url}/_sandbox/chargebee/settings", json={"rate_limit_per_minute": 150 if on else None},
                   timeout=10).raise_for_status()


def burst(provider: str, sandbox, counting: Counting) -> dict:
    sandbox.world.reset()
    with tempfile.TemporaryDirectory() as tmp:
        harness = _harness(provider, "001", sandbox, Path(tmp), pacing=True)
        workload = Workload(harness, "001", accounts=1, days=0, seed=18)
        workload.clock_at = workload.start
        _limits(sandbox, provider, on=False)
        workload.subscribe_all()
        _limits(sandbox, provider, on=True)
        counting.take()
        started = time.monotonic()
        result = workload.burst(activations=5000, seconds=60)
        wall = time.monotonic() - started
        statuses = counting.take()
        db = _db(harness)
        last_event = db.execute("SELECT MAX(occurred_us) FROM product_events WHERE account = 'acct0'").fetchone()[0]
        last_call = db.execute("SELECT MAX(completed_us) FROM provider_calls WHERE account = 'acct0' AND "
                               "status = 'succeeded'").fetchone()[0]
        workload.check_money()
        account, error, lines = workload.stats.money_error_lines[-1]
        return {**result, "requests": sum(statuses.values()), "429s": statuses.get(429, 0),
                "seconds_to_hold_the_ledger_count": round((last_call - last_event) / 1e6, 1),
                "money_error_minor_units": round(float(error), 3), "proration_lines": lines,
                "wall_seconds": round(wall, 1)}


def ceiling(provider: str, sandbox, counting: Counting, *, accounts: int, pacing: bool) -> dict:
    """Accounts synced per second under the provider's request limit, wall-clock."""
    from adapter import store
    from adapter.intake.parse import parse_document
    from adapter.ledger import record_events
    from adapter.sync.worker import Worker, WorkerConfig

    sandbox.world.reset()
    with tempfile.TemporaryDirectory() as tmp:
        harness = _harness(provider, "001", sandbox, Path(tmp), pacing=pacing)
        workload = Workload(harness, "001", accounts=accounts, days=0, seed=25)
        workload.clock_at = workload.start
        _limits(sandbox, provider, on=False)
        workload.subscribe_all()
        at = (workload.start + S.timedelta(days=1)).isoformat()
        workload.advance(workload.start + S.timedelta(days=1, minutes=1))
        events = [{"id": f"{a.id}-more", "type": "seat.activated", "account": a.id, "occurred_at": at,
                   "user": f"{a.id}-more"} for a in workload.accounts]
        record_events(_db(harness), parse_document({"events": events}, plans=harness.catalog.plans,
                                                 addons=harness.catalog.addons), received_us=workload.now())
        _limits(sandbox, provider, on=True)
        counting.take()
        worker = Worker(harness.settings, catalog=harness.catalog,
                        config=WorkerConfig(coalesce_delay=0, max_wait=0, threads=8, batch=32),
                        now_us=workload.now)
        parked = 0
        started = time.monotonic()
        while True:
            outcomes = worker.run_once()
            parked += sum(1 for o in outcomes if o.deferred)
            pending = _db(harness).execute("SELECT COUNT(*) FROM sync_state WHERE ledger_version > synced_version"
                                         ).fetchone()[0]
            if not pending:
                break
            if not outcomes:
                time.sleep(0.05)
                workload.now.skip(0.05)
        elapsed = time.monotonic() - started
        worker._pool.shutdown(wait=True)
        statuses = counting.take()
        store_rows = store.dead_letters(_db(harness))
        requests = sum(statuses.values())
        limit = 25.0 if provider == "stripe" else 150 / 60
        per_account = requests / accounts
        # The steady-state ceiling: the provider's limit over the requests one account's pass needs
        # (the 429s a pass retries are not needed requests).
        ceiling_rate = limit / max(per_account - statuses.get(429, 0) / accounts, 1e-9)
        rate = accounts / elapsed
        return {"pacing": pacing, "accounts": accounts, "seconds": round(elapsed, 2),
                "accounts_per_second": round(rate, 2),
                "requests_per_account": round(per_account, 2), "ceiling_accounts_per_second": round(ceiling_rate, 2),
                "share_of_ceiling": round(rate / ceiling_rate, 3), "429s": statuses.get(429, 0),
                "share_429": round(statuses.get(429, 0) / max(requests, 1), 4), "accounts_parked": parked,
                "dead_letters": len(store_rows)}


def workload(provider: str, policy: str, sandbox, *, accounts: int, days: int) -> dict:
    sandbox.world.reset()
    with tempfile.TemporaryDirectory() as tmp:
        harness = _harness(provider, policy, sandbox, Path(tmp), pacing=False)
        _limits(sandbox, provider, on=False)  # the sandbox's limits run on wall time; the year runs in minutes
        started = time.monotonic()
        run = Workload(harness, policy, accounts=accounts, days=days, seed=int(policy) * 7 + PROVIDERS.index(provider))
        stats = run.run_days()
        run.check_money()
        worst = max(run.stats.money_error_lines, key=lambda row: abs(row[1]) / max(row[2], 1))
        return {"provider": provider, "policy": policy, "accounts": accounts, "days": days,
                "events": stats.events, "passes": stats.passes, "writes": stats.writes,
                "range_violations": stats.range_violations, "replan_writes": stats.replan_writes,
                "highest_pushed": stats.highest_pushed, "highest_ledger": stats.highest_ledger,
                "worst_money_error_minor_units": round(float(worst[1]), 3), "its_proration_lines": worst[2],
                "faults": stats.faults, "crashes": stats.crashes, "wall_seconds": round(time.monotonic() - started, 1)}


def run_sync(*, accounts: int = 60, workload_accounts: int = 6, days: int = 365,
             quick: bool = False) -> dict:
    pool_chargebee_http()
    sandbox = start_sandbox({"stripe_limits": {"requests_per_second": None}})
    counting = Counting(sandbox.app)
    try:
        result: dict = {"burst": {}, "ceiling": {}, "workload": []}
        for provider in PROVIDERS:
            result["burst"][provider] = burst(provider, sandbox, counting)
            n = accounts if provider == "stripe" else max(6, accounts // 2)
            result["ceiling"][provider] = {
                "paced": ceiling(provider, sandbox, counting, accounts=n, pacing=True),
                "unpaced_baseline": ceiling(provider, sandbox, counting, accounts=n, pacing=False)}
        for policy in POLICIES:
            for provider in PROVIDERS:
                result["workload"].append(workload(provider, policy, sandbox, accounts=workload_accounts,
                                                   days=30 if quick else days))
        return result
    finally:
        sandbox.stop()
