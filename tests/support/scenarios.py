"""Scripted seat histories run end to end (product events → ledger → worker → sandbox), and the
policy engine's prediction for the same ledger, for tests/test_sync_matrix*.py.

A ``Script`` is a plan, a start, seat adds/removes and plan changes on dates, and an end the
provider's clock is advanced to (renewals happen on the way). ``run`` drives one script through a
``Harness`` (Stripe test clock or Chargebee time machine) in one of four modes:

- ``plain``: each step's events once, in order;
- ``duplicated``: each event 2-3 times, in seeded-random batches and order, and copies of earlier
  steps' events delivered again later;
- ``faults``: 20% of provider requests made by the worker fail with 429 rate limits, 429
  ``lock_timeout`` or 5xx (sandbox fault injection, seeded); the worker retries;
- ``crash``: the provider wrapper kills the worker (``KeyboardInterrupt``) at seeded-random points,
  before a request or after the provider applied a write but before seatsync recorded it; a fresh
  worker takes over the expired lease.

Then ``expected`` replays the ledger through ``adapter.billing.bill_period`` and the ``compare_*``
functions check the sandbox's invoices, pending items/unbilled charges and credit notes against it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from adapter import ledger, store
from adapter.billing.engine import Bill, bill_period
from adapter.billing.periods import Period, period_at
from adapter.billing.policy import Catalog, Plan, load_catalog
from adapter.billing.preview import seat_points
from adapter.clock import now_us, to_us
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.providers.catalog import create_chargebee_prices
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.support.provisioning import REPO_MAPPINGS, provision_stripe
from tests.support.sandbox_fixtures import stripe_customer_on_clock

UTC = UTC
ACCOUNT = "acct"
LEASE_SECONDS = 120


@dataclass(frozen=True)
class Step:
    """At ``day`` days and ``hour`` hours after the script's start (local time): the product reports it."""

    day: int
    hour: float = 10
    add: int = 0
    remove: int = 0
    plan: str | None = None  # a plan *role* ("upgrade") resolved per provider


@dataclass(frozen=True)
class Script:
    name: str
    policy: str  # "000" | "001" | "002"
    role: str  # "monthly" | "annual": which plan of the policy
    users: int
    steps: tuple[Step, ...]
    end_day: int  # the clock is advanced to start + end_day days at the end


# Each policy's plans per provider: role → plan id. "upgrade" is the article's plan change.
PLANS = {
    "000": {"chargebee": {"monthly": "konfidens-solo-monthly", "monthly-upgrade": "konfidens-pro-monthly",
                          "annual": "konfidens-solo-annual", "annual-upgrade": "konfidens-pro-annual"},
            "stripe": {"monthly": "konfidens-solo-monthly-stripe", "monthly-upgrade": "konfidens-pro-monthly-stripe",
                       "annual": "konfidens-solo-annual-stripe", "annual-upgrade": "konfidens-pro-annual-stripe"}},
    "001": {"stripe": {"monthly": "standard-monthly", "monthly-upgrade": "premium-monthly",
                       "annual": "standard-annual", "annual-upgrade": "premium-annual"},
            "chargebee": {"monthly": "standard-monthly-chargebee", "monthly-upgrade": "premium-monthly-chargebee",
                          "annual": "standard-annual-chargebee", "annual-upgrade": "premium-annual-chargebee"}},
    "002": {"stripe": {"monthly": "team-monthly", "annual": "team-annual"},
            "chargebee": {"monthly": "team-monthly-chargebee", "annual": "team-annual-chargebee"}},
}
# The articles with a plan change: 000 (Solo → Pro on request) and 001 (Standard → Premium).
HAS_UPGRADE = {"000": True, "001": True, "002": False}


def month_script(policy: str) -> Script:
    """April: adds and removes on five dates, the article's plan change mid-month, the May 1 renewal,
    then changes in May left pending."""
    upgrade = "upgrade" if HAS_UPGRADE[policy] else None
    steps = (Step(3, 10, add=2), Step(8, 15.5, remove=1), Step(12, 9, plan=upgrade), Step(20, 11, add=3),
             Step(26, 16, remove=2), Step(34, 12, add=1), Step(37, 9, remove=1))
    return Script(f"{policy}-month", policy, "monthly", 4, tuple(s for s in steps if s.add or s.remove or s.plan),
                  end_day=39)


def year_script(policy: str) -> Script:
    """A year on the annual plan: seat changes spread over twelve months, the plan change in
    summer, the renewal a year after the start, then one more change."""
    upgrade = "upgrade" if HAS_UPGRADE[policy] else None
    steps = (Step(10, 10, add=1), Step(45, 14, add=2), Step(80, 9, remove=1), Step(120, 11, plan=upgrade),
             Step(150, 13, add=1), Step(200, 10, remove=2), Step(260, 15, add=3), Step(330, 12, remove=1),
             Step(372, 10, add=1))
    return Script(f"{policy}-year", policy, "annual", 3, tuple(s for s in steps if s.add or s.remove or s.plan),
                  end_day=376)


def plan_for(script: Script, provider: str, role: str | None = None) -> str:
    role = role or script.role
    return PLANS[script.policy][provider][role if role != "upgrade" else f"{script.role}-upgrade"]


# ------------------------------------------------------------------------------------ harnesses


class MovableNow:
    """The worker's clock: the wall clock plus an offset a test moves forward (lease expiry, backoff)."""

    def __init__(self):
        self.offset_us = 0

    def __call__(self) -> int:
        return now_us() + self.offset_us

    def skip(self, seconds: float) -> None:
        self.offset_us += int(seconds * 1_000_000)


@dataclass
class Harness:
    """One provider's side of a run: a catalogue in the sandbox, a subscription, a clock."""

    provider: str
    settings: Settings
    catalog: Catalog
    sandbox: object
    client: object
    db: object = None
    subscription: str | None = None
    customer: str | None = None
    clock: str | None = None
    start: datetime | None = None

    def control(self, path: str, body: dict) -> dict:
        response = httpx.post(f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def faults(self, **settings) -> None:
        self.control(f"faults/{self.provider}", settings)

    def faults_off(self) -> None:
        self.faults(rate_limit_rate=0, server_error_rate=0, lock_timeout_rate=0, timeout_rate=0)


def stripe_harness(tmp_path, sandbox, client) -> Harness:
    provision_stripe(client, tmp_path / "mappings")
    settings = Settings(database=tmp_path / "seatsync.db", mappings=tmp_path / "mappings",
                        stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url)
    return Harness("stripe", settings, load_catalog(settings.mappings), sandbox, client)


def chargebee_harness(tmp_path, sandbox, client, *, billing_mode: str, timezone_name: str) -> Harness:
    settings = Settings(database=tmp_path / "seatsync.db", mappings=REPO_MAPPINGS, chargebee_site="127",
                        chargebee_api_key="test_sandbox", chargebee_api_base=f"http://127.0.0.1:{sandbox.port}")
    catalog = load_catalog(settings.mappings)
    harness = Harness("chargebee", settings, catalog, sandbox, client)
    harness.control("chargebee/settings", {"billing_mode": billing_mode, "timezone": timezone_name,
                                           "rate_limit_per_minute": None})
    return harness


def start_of(plan: Plan) -> datetime:
    """The script's start: April 1 2026, 00:00 in the plan's timezone."""
    return datetime(2026, 4, 1, tzinfo=ZoneInfo(plan.timezone)).astimezone(UTC)


def instant(harness: Harness, plan: Plan, step_day: float, hour: float = 0) -> datetime:
    local = datetime(2026, 4, 1, tzinfo=ZoneInfo(plan.timezone)) + timedelta(days=step_day)
    wall = local.replace(tzinfo=None) + timedelta(hours=hour)
    return wall.replace(tzinfo=ZoneInfo(plan.timezone)).astimezone(UTC)


def subscribe(harness: Harness, plan: Plan, users: int) -> None:
    start = start_of(plan)
    harness.start = start
    quantity = plan.billable_seats(users)
    if harness.provider == "stripe":
        clock, customer = stripe_customer_on_clock(harness.client, int(start.timestamp()))
        items = [{"price": plan.seat.price_id, "quantity": quantity}]
        if plan.base_fee:
            items.append({"price": plan.base_fee.price_id, "quantity": 1})
        sub = harness.client.v1.subscriptions.create({"customer": customer.id, "items": items})
        harness.clock, harness.customer, harness.subscription = clock.id, customer.id, sub.id
        return
    cb = harness.client
    cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(start.timestamp())})  # wipes the site
    create_chargebee_prices(cb, harness.catalog)
    cb.Customer.create({"id": "cust-matrix", "first_name": "Ada", "email": "ada@example.com",
                        "card": {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030}})
    items = [{"item_price_id": plan.seat.price_id, "quantity": quantity}]
    if plan.base_fee:
        items.append({"item_price_id": plan.base_fee.price_id, "quantity": 1})
    cb.Subscription.create_with_items("cust-matrix", {"id": "sub-matrix", "subscription_items": items})
    harness.customer, harness.subscription = "cust-matrix", "sub-matrix"


def advance(harness: Harness, to: datetime) -> None:
    if harness.provider == "stripe":
        harness.client.v1.test_helpers.test_clocks.advance(harness.clock, {"frozen_time": int(to.timestamp())})
    else:
        harness.client.TimeMachine.travel_forward("delorean", {"destination_time": int(to.timestamp())})


def provider_quantity(harness: Harness, plan: Plan) -> dict[str, int]:
    """Price id → quantity on the subscription now."""
    if harness.provider == "stripe":
        sub = harness.client.v1.subscriptions.retrieve(harness.subscription).to_dict()
        return {i["price"]["id"]: i["quantity"] for i in sub["items"]["data"]}
    sub = harness.client.Subscription.retrieve(harness.subscription).subscription
    return {i.item_price_id: i.quantity for i in sub.subscription_items}


# ------------------------------------------------------------------------------------ events


def iso(at: datetime) -> str:
    return at.isoformat()


def step_events(step: Step, at: datetime, users: list[str], counter: list[int], plan_id: str | None) -> list[dict]:
    """The product's events for one step; ``users`` (the active users) is updated."""
    events = []
    for _ in range(step.add):
        counter[0] += 1
        user = f"u{counter[0]}"
        users.append(user)
        events.append({"id": f"on-{user}", "type": "seat.activated", "account": ACCOUNT, "occurred_at": iso(at),
                       "user": user})
    for _ in range(step.remove):
        user = users.pop(0)
        events.append({"id": f"off-{user}", "type": "seat.deactivated", "account": ACCOUNT, "occurred_at": iso(at),
                       "user": user})
    if plan_id:
        events.append({"id": f"plan-{plan_id}", "type": "account.plan_changed", "account": ACCOUNT,
                       "occurred_at": iso(at), "plan": plan_id})
    return events


def record(catalog: Catalog, db, events: list[dict]) -> None:
    batch = parse_document({"events": events}, plans=catalog.plans, addons=catalog.addons)
    record_events(db, batch)


# ------------------------------------------------------------------------------------ workers


@dataclass
class Crasher:
    """Wraps a provider; kills the worker at seeded-random points of a call, at most ``budget`` times."""

    inner: object
    rng: random.Random
    rate: float = 0.35
    budget: int = 4
    crashes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def _maybe(self, where: str) -> None:
        if self.budget > len(self.crashes) and self.rng.random() < self.rate:
            self.crashes.append(where)
            raise KeyboardInterrupt(f"worker killed {where}")

    def read(self, *args):
        self._maybe("before reading the subscription")
        return self.inner.read(*args)

    def send(self, spec, key):
        self._maybe(f"before sending {spec.operation}")
        result = self.inner.send(spec, key)
        self._maybe(f"after the provider applied {spec.operation}, before seatsync recorded it")
        return result


@dataclass
class Run:
    harness: Harness
    script: Script
    mode: str
    seed: int
    now: MovableNow = field(default_factory=MovableNow)
    crasher: Crasher | None = None
    worker: Worker | None = None
    passes: int = 0
    deferred: int = 0

    @property
    def modes(self) -> set[str]:
        """``mode`` may combine disturbances: "duplicated+faults+crash"."""
        return set(self.mode.split("+"))

    def new_worker(self) -> Worker:
        from adapter.sync.worker import providers_from_settings

        providers = providers_from_settings(self.harness.settings)
        if "crash" in self.modes:
            if self.crasher is None:
                self.crasher = Crasher(providers[self.harness.provider], random.Random(self.seed))
            else:
                self.crasher.inner = providers[self.harness.provider]
            providers = {self.harness.provider: self.crasher}
        if self.worker is not None:
            self.worker._pool.shutdown(wait=True)
        self.worker = Worker(self.harness.settings, catalog=self.harness.catalog, providers=providers,
                             config=WorkerConfig(coalesce_delay=0, threads=1, lease=LEASE_SECONDS,
                                                 sync=SyncOptions(retry_attempts=6, sleep=lambda s: None)),
                             owner=f"worker-{self.passes}", now_us=self.now)
        return self.worker

    def settle(self) -> None:
        """Run the worker until nothing is due; a killed worker is replaced once its lease expired."""
        if "faults" in self.modes:
            self.harness.faults(rate_limit_rate=0.07, server_error_rate=0.07, lock_timeout_rate=0.06,
                                server_error_status=random.Random(self.seed + self.passes).choice([500, 502, 503]),
                                seed=self.seed + self.passes)
        try:
            for _ in range(40):
                self.passes += 1
                worker = self.worker or self.new_worker()
                try:
                    outcomes = worker.run_once()
                except KeyboardInterrupt:
                    self.now.skip(LEASE_SECONDS + 1)  # the dead worker's lease runs out
                    self.worker = None
                    self.new_worker()
                    continue
                if not outcomes:
                    return
                if any(o.deferred for o in outcomes):
                    self.deferred += 1
                    self.now.skip(worker.config.retry_backoff + 1)
            raise AssertionError("the worker never settled")
        finally:
            if "faults" in self.modes:
                self.harness.faults_off()


def run(harness: Harness, script: Script, *, mode: str = "plain", seed: int = 0,
        after_settle: Callable[[Run, Step | None], None] | None = None) -> Run:
    """Drive ``script`` through the harness; returns the run (its db holds the ledger).

    ``after_settle(run, step)``, if given, is called each time the worker has settled: after the
    link (``step`` None), after each step, and after the final advance (``step`` None again); the
    mirror tests deliver and process the provider's webhooks there."""
    catalog = harness.catalog
    plan = catalog.plans[plan_for(script, harness.provider)]
    harness.db = store.open_db(harness.settings.database)
    this = Run(harness, script, mode, seed)
    rng = random.Random(seed)
    subscribe(harness, plan, script.users)
    users = [f"u{i}" for i in range(1, script.users + 1)]
    counter = [script.users]
    start = harness.start
    record(catalog, harness.db, [
        {"id": "link", "type": "account.linked", "account": ACCOUNT, "occurred_at": iso(start),
         "provider": harness.provider, "subscription": harness.subscription, "plan": plan.id},
        {"id": "snap", "type": "account.seats_snapshot", "account": ACCOUNT, "occurred_at": iso(start),
         "users": list(users)}])
    this.settle()
    if after_settle:
        after_settle(this, None)
    sent: list[dict] = []
    for step in script.steps:
        at = instant(harness, plan, step.day, step.hour)
        advance(harness, at)
        events = step_events(step, at, users, counter, plan_for(script, harness.provider, "upgrade")
                             if step.plan else None)
        if "duplicated" in this.modes:
            copies = [e for e in events for _ in range(rng.choice((2, 3)))]
            copies += rng.sample(sent, min(len(sent), 2))  # late redeliveries of earlier steps
            rng.shuffle(copies)
            while copies:
                size = rng.randint(1, 3)
                record(catalog, harness.db, copies[:size])
                copies = copies[size:]
        else:
            record(catalog, harness.db, events)
        sent.extend(events)
        this.settle()
        if after_settle:
            after_settle(this, step)
    advance(harness, instant(harness, plan, script.end_day, 0))
    this.settle()
    if after_settle:
        after_settle(this, None)
    return this


# ------------------------------------------------------------------------------------ the engine


def expected(harness: Harness, script: Script) -> Bill:
    """``bill_period`` over the ledger, from the subscription's first period to the final clock."""
    catalog, db = harness.catalog, harness.db
    plan = catalog.plans[plan_for(script, harness.provider)]
    start = harness.start
    end = instant(harness, plan, script.end_day, 0)
    chargebee_day = harness.provider == "chargebee" and plan.proration == "day"
    cycle_zone = plan.timezone if harness.provider == "chargebee" else "UTC"
    first = period_at(start, plan.interval, cycle_zone, start, day_based=chargebee_day)
    start_us, end_us = to_us(start), to_us(end)
    seats = ledger.seat_count(db, ACCOUNT, start_us)
    points = [(at, n) for at, n in seat_points(db, ACCOUNT, start_us + 1, end_us, seats)]
    # A no-op point at the end makes the walk renew every period the clock crossed.
    points.append((end, points[-1][1] if points else seats))
    plan_changes = [(datetime.fromtimestamp(c.instant_us / 1e6, UTC), catalog.plans[c.plan])
                    for c in ledger.plan_changes(db, ACCOUNT, start_us + 1, end_us)]
    return bill_period(plan=plan, period=Period(first.start, first.end), seats=seats, seat_changes=points,
                       plan_changes=plan_changes, addons=catalog.addons, renewal=False)


# Reading back (tests/support/readback.py), kept reachable as ``scenarios.*`` for the matrices.
from tests.support.readback import (  # noqa: E402,F401
    ChargebeeMoney,
    chargebee_by_price,
    chargebee_full_term_lines,
    chargebee_money,
    engine_by_price,
    engine_full_term_lines,
    engine_invoices,
    engine_lines,
    match_lines,
    stripe_lines,
    ts,
)
