"""A simulated product: many accounts over months of churn, through the real path, with every seat-sync
invariant checked after every worker pass and the money checked against one-by-one billing at the end.

One ``Workload`` runs one seed policy (000, 001, 002) on one provider with N accounts, half on the
policy's monthly plan and half on its annual plan, from April 1 2026 for ``days`` days. Each day the
product reports, at three ticks (10:00, 14:00, 18:00 local): single activations and deactivations,
now and then a bulk import or removal of hundreds of seats, a full snapshot, a plan change (the
article's upgrade and back); some events arrive late (held back to the day's last tick, dated when
they happened) or twice. The provider's clocks (one Stripe test clock per customer, the Chargebee
time machine) move to each tick, so renewals happen on the way; the worker then settles, through
the official SDKs, with provider faults (429, lock timeouts, 5xx) and worker kills on some days.

Checked after every settle (``check_pass``), each independently of the planner's own figures:
- range: every quantity a batch of calls set lies within the ledger's billable range over the window
  the batch stood for (recomputed from the ledger), widened only to what the provider held before the
  pass and (unless increases are invoiced at once) what the previous batch stood for;
- the provider holds the ledger's billable quantity; nothing is left planned; no dead letter;
- writes per subscription stay within 200 an hour (Stripe's per-subscription limit);
- planning a settled account again (what ``reconcile --fix`` or ``dead-letters retry`` do) sends nothing.
At the end (``check_money``): what the provider billed each account equals billing every ledger change
one by one at its own instant as the provider dates it (exact Fractions), within one minor unit per
proration line the provider wrote, after the money seat sync recorded as late changes.

CI runs a small size (tests/e2e/test_workload.py); ``python -m bench sync`` a larger one (bench/README.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from adapter import clock, ledger, store
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.sync.account import SyncOptions
from adapter.sync.timeline import Timeline
from adapter.sync.worker import Worker, WorkerConfig, providers_from_settings
from tests.support import scenarios as S
from tests.support.one_by_one import OneByOne

UTC = UTC
HOUR_US = 3600 * 1_000_000
TICKS = (10, 14, 18)


@dataclass
class Account:
    id: str
    plan_id: str
    users: list[str]
    subscription: str = ""
    customer: str = ""
    clock: str | None = None
    upgraded: bool = False


@dataclass
class Stats:
    passes: int = 0
    writes: int = 0
    events: int = 0
    range_violations: int = 0
    replan_writes: int = 0
    highest_pushed: int = 0
    highest_ledger: int = 0
    money_error_lines: list[tuple[str, Fraction, int]] = field(default_factory=list)
    faults: int = 0
    crashes: int = 0


class Workload(OneByOne):
    def __init__(self, harness: S.Harness, policy: str, *, accounts: int, days: int, seed: int,
                 faults: bool = True, crashes: bool = True, bulk_every: int = 20):
        self.harness = harness
        self.policy = policy
        self.days = days
        self.rng = random.Random(seed)
        self.seed = seed
        self.faults = faults
        self.crashes = crashes
        self.bulk_every = bulk_every
        self.stats = Stats()
        self.zone = ZoneInfo(harness.catalog.plans[S.PLANS[policy][harness.provider]["monthly"]].timezone)
        self.start = datetime(2026, 4, 1, tzinfo=self.zone).astimezone(UTC)
        self.accounts: list[Account] = []
        for n in range(accounts):
            role = "monthly" if n % 2 == 0 else "annual"
            plan_id = S.PLANS[policy][harness.provider][role]
            self.accounts.append(Account(f"acct{n}", plan_id, [f"a{n}-u{i}" for i in range(self.rng.randint(2, 12))]))
        self.now = S.MovableNow()
        self.provider_seconds = 0
        self.providers = providers_from_settings(harness.settings)
        self.counter = 0
        self.held: list[dict] = []
        self.checked_batch = 0

    # -------------------------------------------------------------------------- setup

    def subscribe_all(self) -> None:
        h = self.harness
        h.db = store.open_db(h.settings.database)
        self.now.offset_us = S.to_us(self.start) - clock.now_us()  # seatsync's clock runs with the simulation
        start_s = self.provider_seconds = int(self.start.timestamp())
        if h.provider == "chargebee":
            h.client.TimeMachine.start_afresh("delorean", {"genesis_time": start_s})
            from adapter.providers.catalog import create_chargebee_prices

            create_chargebee_prices(h.client, h.catalog)
        events = []
        for account in self.accounts:
            plan = h.catalog.plans[account.plan_id]
            quantity = plan.billable_seats(len(account.users))
            if h.provider == "stripe":
                test_clock, customer = S.stripe_customer_on_clock(h.client, start_s)
                items = [{"price": plan.seat.price_id, "quantity": quantity}]
                if plan.base_fee:
                    items.append({"price": plan.base_fee.price_id, "quantity": 1})
                sub = h.client.v1.subscriptions.create({"customer": customer.id, "items": items})
                account.clock, account.customer, account.subscription = test_clock.id, customer.id, sub.id
            else:
                customer = f"cust-{account.id}"
                h.client.Customer.create({"id": customer, "first_name": account.id,
                                          "email": f"{account.id}@example.com",
                                          "card": {"number": "4111111111111111", "expiry_month": 12,
                                                   "expiry_year": 2030}})
                items = [{"item_price_id": plan.seat.price_id, "quantity": quantity}]
                if plan.base_fee:
                    items.append({"item_price_id": plan.base_fee.price_id, "quantity": 1})
                h.client.Subscription.create_with_items(customer, {"id": f"sub-{account.id}",
                                                                   "subscription_items": items})
                account.customer, account.subscription = customer, f"sub-{account.id}"
            at = self.start.isoformat()
            events += [{"id": f"{account.id}-link", "type": "account.linked", "account": account.id, "occurred_at": at,
                        "provider": h.provider, "subscription": account.subscription, "plan": plan.id},
                       {"id": f"{account.id}-snap0", "type": "account.seats_snapshot", "account": account.id,
                        "occurred_at": at, "users": list(account.users)}]
        record_events(h.db, parse_document({"events": events}, plans=h.catalog.plans, addons=h.catalog.addons),
                      received_us=self.now())
        self.settle()


    # -------------------------------------------------------------------------- the product

    def _event(self, account: Account, kind: str, at: datetime, **body) -> dict:
        self.counter += 1
        return {"id": f"{account.id}-{kind}-{self.counter}", "type": kind, "account": account.id,
                "occurred_at": at.isoformat(), **body}

    def day_events(self, account: Account, at: datetime) -> list[dict]:
        """What the product reports for one account at one tick."""
        rng, events = self.rng, []
        if rng.random() < 0.45:
            self.counter += 1
            user = f"{account.id}-n{self.counter}"
            account.users.append(user)
            events.append(self._event(account, "seat.activated", at, user=user))
        if rng.random() < 0.35 and len(account.users) > 1:
            user = account.users.pop(rng.randrange(len(account.users)))
            events.append(self._event(account, "seat.deactivated", at, user=user))
        if rng.random() < 1 / (self.bulk_every * len(TICKS)):
            if rng.random() < 0.6 or len(account.users) < 50:
                for n in range(rng.randint(100, 300)):  # a bulk import, seconds apart
                    user = f"{account.id}-b{self.counter}-{n}"
                    account.users.append(user)
                    events.append(self._event(account, "seat.activated", at + timedelta(seconds=n // 3), user=user))
            else:
                for n in range(len(account.users) // 2):
                    user = account.users.pop(rng.randrange(len(account.users)))
                    events.append(self._event(account, "seat.deactivated", at + timedelta(seconds=n // 3), user=user))
        if rng.random() < 0.03:
            events.append(self._event(account, "account.seats_snapshot", at, users=list(account.users)))
        upgrade = S.PLANS[self.policy][self.harness.provider].get(
            ("monthly" if "monthly" in account.plan_id else "annual") + "-upgrade")
        if upgrade and rng.random() < 0.01:
            account.upgraded = not account.upgraded
            base = S.PLANS[self.policy][self.harness.provider]["monthly" if "monthly" in account.plan_id else "annual"]
            events.append(self._event(account, "account.plan_changed", at, plan=upgrade if account.upgraded else base))
        return events

    def deliver(self, events: list[dict], *, late: bool) -> None:
        """Record events as the product's webhooks would bring them: some held back, some twice."""
        now = []
        for event in events:
            if not late and self.rng.random() < 0.08:
                self.held.append(event)
                continue
            now.append(event)
            if self.rng.random() < 0.05:
                now.append(event)
        self.rng.shuffle(now)
        for start in range(0, len(now), 100):
            batch = parse_document({"events": now[start:start + 100]}, plans=self.harness.catalog.plans,
                                   addons=self.harness.catalog.addons)
            record_events(self.harness.db, batch, received_us=self.now())
        self.stats.events += len(events)

    # -------------------------------------------------------------------------- the clock and the worker

    def advance(self, to: datetime) -> None:
        """Move the provider's clocks, and seatsync's (its claims, leases and hourly budget run on it)."""
        h = self.harness
        seconds = int(to.timestamp())
        if seconds > self.provider_seconds:  # provider clocks move in whole seconds
            self.provider_seconds = seconds
            if h.provider == "stripe":
                for account in self.accounts:
                    h.client.v1.test_helpers.test_clocks.advance(account.clock, {"frozen_time": seconds})
            else:
                h.client.TimeMachine.travel_forward("delorean", {"destination_time": seconds})
        self.now.offset_us = max(self.now.offset_us, S.to_us(to) - clock.now_us())

    def _worker(self, crasher: S.Crasher | None, *, delay: float = 0, max_wait: float = 0) -> Worker:
        providers = {self.harness.provider: crasher or self.providers[self.harness.provider]}
        return Worker(self.harness.settings, catalog=self.harness.catalog, providers=providers,
                      config=WorkerConfig(coalesce_delay=delay, max_wait=max_wait, threads=2, lease=S.LEASE_SECONDS,
                                          sync=SyncOptions(retry_attempts=6, sleep=lambda s: None)),
                      owner=f"worker-{self.stats.passes}", now_us=self.now)

    def settle(self, *, disturbed: bool = False) -> None:
        """Run workers until nothing is due; with ``disturbed``, 20% of provider requests fail and the
        worker may be killed once (before a request, or after the provider applied a write)."""
        h = self.harness
        crasher = None
        if disturbed and self.faults:
            h.faults(rate_limit_rate=0.07, server_error_rate=0.07, lock_timeout_rate=0.06,
                     seed=self.seed + self.stats.passes)
            self.stats.faults += 1
        if disturbed and self.crashes:
            crasher = S.Crasher(self.providers[h.provider], random.Random(self.seed + self.stats.passes), budget=1)
        try:
            for _ in range(200):
                self.stats.passes += 1
                worker = self._worker(crasher)
                try:
                    outcomes = worker.run_once()
                except KeyboardInterrupt:
                    self.stats.crashes += 1
                    continue  # a new worker takes over once the dead one's lease runs out
                finally:
                    worker._pool.shutdown(wait=True)
                if outcomes:
                    continue
                # Nothing is due now: done, unless an account waits for a retry (a provider fault, the
                # hourly budget, a dead worker's lease): then move seatsync's clock to it.
                row = h.db.execute(
                    "SELECT MIN(MAX(next_attempt_us, lease_expires_us)) FROM sync_state WHERE "
                    "ledger_version > synced_version OR EXISTS (SELECT 1 FROM provider_calls c WHERE "
                    "c.account = sync_state.account AND c.status = 'planned')").fetchone()
                if row[0] is None:
                    return
                self.now.skip(max(0, row[0] - self.now()) / 1e6 + 0.001)
            raise AssertionError("the worker never settled")
        finally:
            if disturbed and self.faults:
                h.faults_off()

    def _writes(self) -> int:
        return self.harness.db.execute("SELECT COUNT(*) FROM provider_calls WHERE status = 'succeeded' "
                                       "AND quantity IS NOT NULL").fetchone()[0]

    # -------------------------------------------------------------------------- invariants

    def check_pass(self) -> None:
        db = self.harness.db
        assert store.dead_letters(db) == [], store.dead_letters(db)
        for account in self.accounts:
            assert store.planned_calls(db, account.id) == []
        for batch in db.query("SELECT * FROM sync_batches WHERE id > ? ORDER BY id", [self.checked_batch]):
            self.checked_batch = batch["id"]
            self._check_range(batch)
        # Writes per subscription in any hour (our clock): Stripe allows 200 quantity updates an hour.
        for account in self.accounts:
            times = [row[0] for row in db.execute(
                "SELECT completed_us FROM provider_calls WHERE subscription = ? AND quantity IS NOT NULL "
                "AND status = 'succeeded' ORDER BY completed_us", [account.subscription])]
            for i, t in enumerate(times):
                j = i
                while j < len(times) and times[j] < t + HOUR_US:
                    j += 1
                assert j - i <= 200, (account.id, j - i)
        # Planning a settled account again sends nothing.
        account = self.rng.choice(self.accounts)
        writes = self._writes()
        store.make_account_due(db, account.id, self.now())
        self.settle()
        self.stats.replan_writes += self._writes() - writes
        assert self._writes() == writes, f"re-planning {account.id} sent {self._writes() - writes} calls"
        self.check_quantities()

    def _check_range(self, batch: dict) -> None:
        db, catalog = self.harness.db, self.harness.catalog
        link = store.account_link(db, batch["account"])
        plan = catalog.plans[ledger.plan_at(db, batch["account"], batch["horizon_us"] - 1) or link["plan"]]
        start, end = batch["window_start_us"], batch["horizon_us"]
        count = ledger.seat_count(db, batch["account"], start)
        values = [plan.billable_seats(count)]
        for change in ledger.changes(db, batch["account"], start + 1, end):
            count += 1 if change.active else -1
            values.append(plan.billable_seats(count))
        low, high = min(values), max(values)
        self.stats.highest_ledger = max(self.stats.highest_ledger, high)
        if plan.increase != "invoice_now":
            previous = next(db.query("SELECT covered FROM sync_batches WHERE subscription = ? AND period_start_us = ? "
                                     "AND id < ? AND status = 'open' ORDER BY id DESC LIMIT 1",
                                     [batch["subscription"], batch["period_start_us"], batch["id"]]), None)
            if previous:
                old_low, old_high = Timeline.from_json(previous["covered"]).value_range(start, end)
                low, high = min(low, old_low), max(high, old_high)
        if batch["quantity_before"] is not None:
            low, high = min(low, batch["quantity_before"]), max(high, batch["quantity_before"])
        for (quantity,) in db.execute("SELECT quantity FROM provider_calls WHERE batch_id = ? AND kind = 'quantity'",
                                      [batch["id"]]):
            self.stats.highest_pushed = max(self.stats.highest_pushed, quantity)
            if not low <= quantity <= high:
                self.stats.range_violations += 1
        assert self.stats.range_violations == 0, (batch, low, high)

    def check_quantities(self) -> None:
        """The provider holds what the ledger knows (events still held back are not known yet)."""
        db = self.harness.db
        for account in self.accounts:
            now = S.to_us(self.clock_at) + 1
            plan = self.harness.catalog.plans[ledger.plan_at(db, account.id, now) or account.plan_id]
            seats = plan.billable_seats(ledger.seat_count(db, account.id, now))
            self.harness.subscription = account.subscription
            held = S.provider_quantity(self.harness, plan)
            assert held.get(plan.seat.price_id) == seats, (account.id, held, seats)

    # -------------------------------------------------------------------------- the run

    def run_days(self) -> Stats:
        self.clock_at = self.start
        self.subscribe_all()
        self.check_pass()
        for day in range(1, self.days + 1):
            disturbed = self.rng.random() < 0.15
            for n, hour in enumerate(TICKS):
                at = (datetime(2026, 4, 1, tzinfo=self.zone) + timedelta(days=day, hours=hour)).astimezone(UTC)
                self.clock_at = at + timedelta(minutes=5)
                self.advance(self.clock_at)
                events = [e for account in self.accounts for e in self.day_events(account, at)]
                self.deliver(events, late=False)
                if n == len(TICKS) - 1 and self.held:
                    held, self.held = self.held, []
                    self.deliver(held, late=True)
                self.settle(disturbed=disturbed and n == 1)
                self.check_pass()
        self.stats.writes = self._writes()
        return self.stats

    # -------------------------------------------------------------------------- a burst

    def burst(self, *, activations: int = 5000, seconds: float = 60, step: float = 0.5) -> dict:
        """A bulk import into the first account: ``activations`` seats over ``seconds``, reaching seatsync
        in chunks every ``step`` seconds, with a worker pass after each chunk on the default coalescing
        (quiet 2 s, at most 30 s), clocks moving with it. Returns the writes and the highest quantity
        pushed against the ledger's; ``check_money`` then covers the burst's money."""
        account = self.accounts[0]
        writes_before = self._writes()
        begin = self.clock_at + timedelta(hours=1)
        chunks = int(seconds / step)
        highest_ledger = 0
        for chunk in range(chunks + int(30 / step)):
            at = begin + timedelta(seconds=chunk * step)
            self.clock_at = at
            self.advance(at)
            if chunk < chunks:
                events = []
                per_chunk = activations * (chunk + 1) // chunks - activations * chunk // chunks
                for n in range(per_chunk):
                    self.counter += 1
                    user = f"{account.id}-burst{self.counter}"
                    account.users.append(user)
                    events.append(self._event(account, "seat.activated", at - timedelta(seconds=step * n / per_chunk),
                                              user=user))
                self.deliver(events, late=True)
            worker = self._worker(None, delay=2.0, max_wait=30.0)
            try:
                worker.run_once()
            finally:
                worker._pool.shutdown(wait=True)
            plan = self.harness.catalog.plans[account.plan_id]
            highest_ledger = max(highest_ledger, plan.billable_seats(
                ledger.seat_count(self.harness.db, account.id, S.to_us(at))))
        self.settle()
        self.check_pass()
        pushed = self.harness.db.execute(
            "SELECT MAX(quantity) FROM provider_calls WHERE account = ? AND status = 'succeeded' AND id > ?",
            [account.id, 0]).fetchone()[0]
        return {"writes": self._writes() - writes_before, "highest_pushed": pushed, "highest_ledger": highest_ledger}
