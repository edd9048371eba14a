"""The reconciliation benchmark's database: one year of two accounts built through seatsync's own code,
then copied per account with SQL.

The template (``build_template``): against the provider sandbox, a Stripe account on ``standard-monthly``
(a test clock) and a Chargebee account on ``konfidens-solo-monthly`` (the time machine, day-based
proration in Europe/Oslo), 10 users each, linked with a snapshot, then four days a month for twelve
months one user activated and one deactivated in each (96 seat events a year per account), every
change synced by the sync worker, the clocks advanced past the last renewal, and the mirror built by
``seatsync backfill``'s code. Reconciling the template reports no difference (checked).

``replicate`` copies the template's per-account rows N/2 times each, re-keyed per copy (account,
subscription, customer, invoice, line, item, credit note, pending charge, event and call ids get a
``~k`` suffix): the result is what seatsync would have written for N accounts with the same history.
Left as they are: the ``raw`` JSON of mirrored objects (it names the template's ids; reconciliation
reads only line items and statuses from it) and the provider event log / deliveries (reconciliation
does not read them).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import stripe
from chargebee import Chargebee
from stripe.params._subscription_create_params import SubscriptionCreateParamsItem

from adapter import store
from adapter.billing.policy import load_catalog
from adapter.callbacks import backfill
from adapter.config import Settings
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from adapter.providers.catalog import create_chargebee_prices
from adapter.sync.account import SyncOptions
from adapter.sync.worker import Worker, WorkerConfig
from tests.support.provisioning import provision_stripe
from tests.support.sandbox_fixtures import TEST_CONFIG, pool_chargebee_http, start_sandbox, stripe_customer_on_clock

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2025, 4, 1, tzinfo=OSLO).astimezone(UTC)  # a past year: nothing beyond the wall clock
STRIPE_START = datetime(2025, 4, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, 6, tzinfo=UTC)  # after both accounts' April 2026 renewal
TEMPLATE = {"stripe": ("b-stripe", "standard-monthly"), "chargebee": ("b-chargebee", "konfidens-solo-monthly")}
USERS = 10
DAYS = (5, 12, 19, 26)


def _us(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000


def build_template(directory: Path) -> dict:
    """Build the two-account year in ``directory/seatsync.db``; returns the settings and the window."""
    pool_chargebee_http()
    sandbox = start_sandbox(TEST_CONFIG)
    try:
        client = stripe.StripeClient("sk_test_sandbox", base_addresses={"api": sandbox.url})
        provision_stripe(client, directory / "mappings")
        Chargebee.verify_ca_certs = False
        cb = Chargebee(api_key="test_sandbox", site="127", chargebee_domain=f"0.0.1:{sandbox.port}", protocol="http")
        httpx.post(f"{sandbox.url}/_sandbox/chargebee/settings", timeout=10,
                   json={"billing_mode": "day", "timezone": "Europe/Oslo", "rate_limit_per_minute": None}
                   ).raise_for_status()
        settings = Settings(database=directory / "seatsync.db", mappings=directory / "mappings",
                            stripe_api_key="sk_test_sandbox", stripe_api_base=sandbox.url, chargebee_site="127",
                            chargebee_api_key="test_sandbox", chargebee_api_base=f"http://127.0.0.1:{sandbox.port}")
        catalog = load_catalog(settings.mappings)
        db = store.open_db(settings.database)
        worker = Worker(settings, catalog=catalog,
                        config=WorkerConfig(coalesce_delay=0, threads=1, sync=SyncOptions(sleep=lambda s: None)))

        def send(*events):
            record_events(db, parse_document({"events": list(events)}, plans=catalog.plans, addons=catalog.addons))

        stripe_account, stripe_plan_id = TEMPLATE["stripe"]
        stripe_plan = catalog.plans[stripe_plan_id]
        clock, customer = stripe_customer_on_clock(client, int(STRIPE_START.timestamp()))
        items: list[SubscriptionCreateParamsItem] = [{"price": stripe_plan.seat.price_id, "quantity": USERS}]
        if stripe_plan.base_fee:
            items.append({"price": stripe_plan.base_fee.price_id, "quantity": 1})
        sub = client.v1.subscriptions.create({"customer": customer.id, "items": items})
        cb_account, cb_plan_id = TEMPLATE["chargebee"]
        cb_plan = catalog.plans[cb_plan_id]
        cb.TimeMachine.start_afresh("delorean", {"genesis_time": int(START.timestamp())})
        create_chargebee_prices(cb, catalog)
        cb.Customer.create({"id": "cust-bench", "first_name": "Ada", "email": "ada@example.com",
                            "card": {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2030}})
        cb.Subscription.create_with_items("cust-bench", {"id": "sub-bench", "subscription_items": [
            {"item_price_id": cb_plan.seat.price_id, "quantity": USERS}]})
        users = [f"u{i}" for i in range(USERS)]
        for account, provider, subscription, plan_id, at in (
                (stripe_account, "stripe", sub.id, stripe_plan_id, STRIPE_START),
                (cb_account, "chargebee", "sub-bench", cb_plan_id, START)):
            send({"id": f"{account}-link", "type": "account.linked", "account": account,
                  "occurred_at": at.isoformat(), "provider": provider, "subscription": subscription,
                  "plan": plan_id},
                 {"id": f"{account}-snap", "type": "account.seats_snapshot", "account": account,
                  "occurred_at": at.isoformat(), "users": users})
        worker.run_once()
        active, serial = list(users), USERS
        for month in range(12):
            first = datetime(2025 + (3 + month) // 12, (3 + month) % 12 + 1, 1, tzinfo=UTC)
            for day in DAYS:
                new, gone = f"u{serial}", active.pop(0)
                serial += 1
                active.append(new)
                for at, user, kind in ((first.replace(day=day, hour=10), new, "activated"),
                                       (first.replace(day=day + 1, hour=10), gone, "deactivated")):
                    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": int(at.timestamp())})
                    cb.TimeMachine.travel_forward("delorean", {"destination_time": int(at.timestamp())})
                    for account in (stripe_account, cb_account):
                        send({"id": f"{account}-{user}-{kind}", "type": f"seat.{kind}", "account": account,
                              "occurred_at": at.isoformat(), "user": user})
                    worker.run_once()
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": int(END.timestamp())})
        cb.TimeMachine.travel_forward("delorean", {"destination_time": int(END.timestamp())})
        for provider in ("stripe", "chargebee"):
            for _ in backfill.run(db, settings, provider):
                pass
        worker._pool.shutdown(wait=True)
        db.close()
        return {"database": str(settings.database), "mappings": str(settings.mappings),
                "since_us": _us(min(START, STRIPE_START)), "until_us": _us(END), "now_us": _us(END)}
    finally:
        sandbox.stop()


# Per-account tables reconciliation and seat sync read, and the columns that hold an id of the template.
KEYED = {
    "product_events": ("id", "account"),
    "seat_facts": ("event_id", "account"),
    "snapshots": ("event_id", "account"),
    "snapshot_users": ("event_id",),
    "plan_facts": ("event_id", "account"),
    "addon_facts": ("event_id", "account"),
    "accounts": ("account", "subscription", "event_id"),
    "sync_state": ("account",),
    "sync_batches": ("account", "subscription"),
    "provider_calls": ("account", "subscription", "idempotency_key"),
    "late_changes": ("account", "subscription"),
    "mirror_customers": ("id",),
    "mirror_subscriptions": ("id", "customer", "account"),
    "mirror_subscription_items": ("id", "subscription"),
    "mirror_invoices": ("id", "customer", "subscription"),
    "mirror_invoice_lines": ("id", "invoice", "subscription", "subscription_item", "pending_charge"),
    "mirror_credit_notes": ("id", "customer", "subscription", "invoice"),
    "mirror_payments": ("id", "customer", "subscription", "invoice"),
    "mirror_pending_charges": ("id", "customer", "subscription", "subscription_item", "invoice"),
}
INTEGER_KEYS = {"provider_calls": "id", "late_changes": "id", "sync_batches": "id"}


def replicate(path: str, accounts: int) -> dict:
    """Copy the template's rows until the database holds ``accounts`` accounts (half per provider)."""
    started = time.monotonic()
    db = store.open_db(path)
    conn = db.conn
    conn.execute("PRAGMA synchronous=OFF")
    copies = max(accounts // 2, 1)
    conn.execute("DROP TABLE IF EXISTS temp.copies")
    conn.execute("CREATE TEMP TABLE copies (k INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.copies VALUES (?)", [(k,) for k in range(1, copies)])
    # Secondary indexes are rebuilt once after the copy instead of maintained row by row.
    indexes = [sql for (sql,) in conn.execute(
        f"SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' * len(KEYED))})", list(KEYED))]
    conn.execute("BEGIN")
    for (name,) in conn.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
            f"({', '.join('?' * len(KEYED))})", list(KEYED)).fetchall():
        conn.execute(f"DROP INDEX {name}")
    for table, keyed in KEYED.items():
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        integer = INTEGER_KEYS.get(table)
        select = []
        for column in columns:
            if column in keyed:
                select.append(f"CASE WHEN {column} IS NULL THEN NULL ELSE {column} || '~' || k END")
            elif column == integer or (table == "provider_calls" and column == "batch_id"):
                select.append(f"{column} + k * 1000000")  # integer keys: the copy's own range
            else:
                select.append(column)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)} "
                     f"FROM {table} CROSS JOIN temp.copies WHERE instr({keyed[0]}, '~') = 0"
                     if integer is None else
                     f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)} "
                     f"FROM {table} CROSS JOIN temp.copies WHERE {integer} < 1000000")
    for sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    store.optimize(db, full=True)  # as seatsync's own open does after a migration
    counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
              for table in ("accounts", "seat_facts", "mirror_invoices", "mirror_invoice_lines")}
    db.close()
    return {"seconds": round(time.monotonic() - started, 1), **counts}
