"""The embedded setup behind ``make run``: the local provider sandbox and a ready demo world.

With no provider keys configured, ``seatsync serve`` starts the sandbox that
ships with the distribution (``python -m seatsync_sandbox``, the source tree's
``tests/sandbox`` installed under that name; a separate process: seatsync never
imports it), points both SDKs at it, registers seatsync's
webhook receivers with it, and seeds one demo account per article policy, so
a newcomer can ``seatsync send`` a seat event and watch quantities and
pending charges change.

The sandbox keeps its state in memory, so every start seeds afresh; a demo
account that already has seats in the ledger is relinked to a new
subscription carrying its current seat count.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

from adapter import accounts, clock, ledger, store
from adapter.billing.policy import load_catalog, rewrite_price_ids
from adapter.clock import format_us
from adapter.config import Settings, new_whsec
from adapter.intake.parse import parse_document
from adapter.providers import registry

# One demo account per seed article: (account, plan, seats).
DEMO_ACCOUNTS = (
    ("demo-clinic", "konfidens-solo-monthly", 3),  # 000: Chargebee, day proration in Europe/Oslo
    ("demo-standard", "standard-monthly", 10),  # 001: Stripe, base fee + seats, next-invoice prorations
    ("demo-team", "team-annual", 5),  # 002: Stripe, annual, invoiced past $150.00
)


log = logging.getLogger(__name__)


class EmbeddedError(Exception):
    pass


@dataclass
class EmbeddedSandbox:
    process: subprocess.Popen
    url: str
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _state_secret(state_dir: Path, name: str, make) -> str:
    """A secret kept next to the database, so restarts keep webhooks verifiable."""
    path = state_dir / name
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


SANDBOX_MODULE = "seatsync_sandbox"


def start_sandbox(port: int, database: Path, *, timeout: float = 20.0) -> EmbeddedSandbox:
    import importlib.util

    if importlib.util.find_spec(SANDBOX_MODULE) is None:
        raise EmbeddedError(f"no provider keys are set and this installation has no local sandbox ({SANDBOX_MODULE}): "
                            "reinstall seatsync, or set STRIPE_API_KEY or CHARGEBEE_API_KEY")
    url = f"http://127.0.0.1:{port}"
    log_path = database.parent / "embedded" / "sandbox.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the sandbox's request log, out of the way of seatsync's own
        process = subprocess.Popen([sys.executable, "-m", SANDBOX_MODULE, "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None:
            raise EmbeddedError(f"the sandbox exited with code {process.returncode} (is port {port} in use? "
                                f"see {log_path})")
        if time.monotonic() > deadline:
            process.terminate()
            raise EmbeddedError(f"the sandbox did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.1)
    state = database.parent / "embedded"
    env = {
        "STRIPE_API_KEY": "sk_test_seatsync_embedded",
        "STRIPE_API_BASE": url,
        "STRIPE_WEBHOOK_SECRETS": _state_secret(state, "stripe-webhook-secret", new_whsec),
        "CHARGEBEE_SITE": "embedded",
        "CHARGEBEE_API_KEY": "test_seatsync_embedded",
        "CHARGEBEE_API_BASE": url,
        "CHARGEBEE_WEBHOOK_USER": "sandbox",
        "CHARGEBEE_WEBHOOK_PASSWORD": _state_secret(state, "chargebee-webhook-password",
                                                    lambda: secrets.token_urlsafe(24)),
    }
    return EmbeddedSandbox(process, url, env)


SESSION_FILE = "session.json"


def write_session(database: Path, env: dict[str, str], *, url: str | None = None, pid: int | None = None,
                  offset_us: int | None = None) -> Path:
    """Record the running server for other commands: its address and, for the embedded world, its
    provider settings, the rewritten catalogue and how far ``seatsync demo advance`` moved its clocks.

    ``seatsync reconcile``, ``preview`` or ``worker`` run from a second terminal must talk to the same
    sandbox and read the catalogue with the price ids the sandbox created; without this they would use
    the default mappings and see every mirrored line as a foreign price. ``seatsync send`` posts to ``url``
    (``serve --bind``), and the world's now is the wall clock plus ``offset_us``.
    """
    path = database.parent / "embedded" / SESSION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds webhook secrets
    body: dict = {"pid": os.getpid() if pid is None else pid, "env": env}
    if url is not None:
        body["url"] = url
    if offset_us:
        body["offset_us"] = offset_us
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
    os.replace(temporary, path)
    return path


def read_session(database: Path) -> dict | None:
    """The running server's session (``pid``, ``env``, ``url``, ``offset_us``), or None when none is alive."""
    path = database.parent / "embedded" / SESSION_FILE
    try:
        session = json.loads(path.read_text())
        os.kill(int(session["pid"]), 0)  # a session left by a killed server names a dead sandbox
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return session if isinstance(session, dict) else None


def world_offset_us(database: Path) -> int:
    offset = (read_session(database) or {}).get("offset_us")
    return offset if isinstance(offset, int) and offset > 0 else 0


def world_now_us(database: Path) -> int:
    """Now in the running world: the wall clock, plus the days ``seatsync demo advance`` moved it on."""
    return clock.now_us() + world_offset_us(database)


def remove_session(database: Path) -> None:
    (database.parent / "embedded" / SESSION_FILE).unlink(missing_ok=True)


def session_env(database: Path) -> dict[str, str] | None:
    """The running embedded world's settings, or None when no ``seatsync serve`` of it is alive."""
    session = read_session(database)
    if session is None:
        return None
    env = session.get("env")
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else None


def _control(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/_sandbox/{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def seed_demo(settings: Settings, sandbox: EmbeddedSandbox, seatsync_url: str) -> Settings:
    """Create the catalogue and the demo accounts in the sandbox; return settings that name the created prices."""
    from adapter.providers.catalog import create_chargebee_prices, create_stripe_prices
    from adapter.providers.chargebee.client import chargebee_client
    from adapter.providers.stripe.client import stripe_client

    catalog = load_catalog(settings.mappings)
    stripe = stripe_client(settings)
    chargebee = chargebee_client(settings)
    ids = create_stripe_prices(stripe, catalog)
    mappings = rewrite_price_ids(settings.mappings, settings.database.parent / "embedded" / "mappings", ids)
    create_chargebee_prices(chargebee, catalog)
    settings = replace(settings, mappings=mappings)
    catalog = load_catalog(mappings)

    demo_plans = [catalog.plans[plan] for _, plan, _ in DEMO_ACCOUNTS if plan in catalog.plans]
    for name in registry.NAMES:  # the site settings the demo plans are billed under (Chargebee: day, Oslo)
        for path, body in registry.get(name).sandbox_settings(demo_plans).items():
            _control(sandbox.url, path, body)
    _control(sandbox.url, "webhooks/stripe/endpoints",
             {"url": f"{seatsync_url}/webhooks/stripe", "secret": settings.stripe_webhook_secrets[0]})
    _control(sandbox.url, "webhooks/chargebee/endpoints",
             {"url": f"{seatsync_url}/webhooks/chargebee", "username": settings.chargebee_webhook_user,
              "password": settings.chargebee_webhook_password})

    db = store.open_db(settings.database)
    try:
        for account, plan_id, seats in DEMO_ACCOUNTS:
            if plan_id not in catalog.plans:
                continue
            plan = catalog.plans[plan_id]
            now = clock.now_us()
            users = ledger.active_users(db, account, now) or [f"{account}-user-{n}" for n in range(1, seats + 1)]
            quantity = plan.billable_seats(len(users))
            key = f"seatsync:demo:{account}:{now}"  # a retried create replays instead of making a second one
            provider = registry.get(plan.provider)
            subscription = provider.demo_subscription(settings, account, plan, quantity, key)
            period_start = provider.seat_client(settings).read(subscription, catalog).period_start_us
            # The link is the cycle anchor reconciliation bills from: never before the provider's period start
            # (a test clock created in the next second starts the period there; a day-mode term starts at the
            # local midnight before, and its opening invoice is then not one seatsync made).
            accounts.link(db, account, provider=plan.provider, subscription=subscription, plan=plan_id,
                          timezone=None, plans=catalog.plans, addons=catalog.addons, at_us=max(now, period_start))
            # The seats are dated from the provider's period start (its clock's second or the local midnight):
            # the ledger then explains every second the provider bills, and the worker has nothing to push
            # (dated after it, the worker would bill 0 seats before them).
            snapshot = {"id": f"{account}-snapshot-{now}", "type": "account.seats_snapshot", "account": account,
                        "occurred_at": format_us(min(now, period_start)), "users": users}
            ledger.record_events(db, parse_document(snapshot, plans=catalog.plans, addons=catalog.addons))
    finally:
        db.close()
    return settings


# --- `seatsync demo`: run the demo world's month, and inject a difference -------------------------


@dataclass
class Advanced:
    before_us: int
    to_us: int
    moved: list[str]
    invoices: list[dict]  # mirrored invoices the renewals issued on the way


def _running_session(database: Path) -> dict:
    session = read_session(database)
    if session is None or not session.get("env"):
        raise EmbeddedError("the embedded world is not running (no live var/embedded/session.json next to "
                            f"{database}): start it with `make run`, then run this in a second terminal")
    return session


def _settle(settings: Settings, sandbox_url: str) -> None:
    """Wait until the sandbox delivered its webhooks to the server, then settle them into the mirror now."""
    from adapter.sync.worker import Worker

    _control(sandbox_url, "webhooks/flush", {"timeout": 60})
    # Leased per event: safe beside the server's own worker.
    Worker(settings, now_us=lambda: world_now_us(settings.database)).run_callbacks_once()


def _wait_for_sync(db, timeout: float = 30.0) -> None:
    """Seat changes still waiting for the server's worker would be billed after the clocks moved (a late
    change): wait until every account's ledger version is synced."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = store.unsynced_accounts(db)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise EmbeddedError(f"seat changes of {', '.join(waiting)} are still waiting for the sync worker after "
                                f"{timeout:.0f} s (is `make run` running its worker?); `seatsync dead-letters list` "
                                "shows anything the provider refused")
        time.sleep(0.25)


def move_clocks(settings: Settings, db, to_us: int) -> list[str]:
    """Every linked subscription's provider clock moved forward to ``to_us`` (never back)."""
    by_provider: dict[str, list[str]] = {}
    for link in accounts.all_accounts(db):
        by_provider.setdefault(link.provider, []).append(link.subscription)
    moved = []
    for name, subscriptions in sorted(by_provider.items()):
        moved += registry.get(name).demo_advance(settings, subscriptions, to_us // clock.SECOND_US)
    return moved


def follow_world_clock(settings: Settings, stop, interval: float = 1.0) -> None:
    """Keep the sandbox's clocks (frozen, like Stripe test clocks and the Chargebee time machine) up with the
    world's now while seat changes wait for the worker: a change the provider's clock has not reached yet
    cannot be billed. Only then, so an idle world makes no clock events."""
    db = store.open_db(settings.database)
    try:
        while not stop.wait(interval):
            try:
                if store.unsynced_accounts(db):
                    move_clocks(settings, db, world_now_us(settings.database))
            except Exception as exc:  # noqa: BLE001 - the next tick tries again; the demo must not stop
                log.warning("demo clocks: %s: %s", type(exc).__name__, exc)
    finally:
        db.close()


def demo_worker(settings: Settings):
    """The server's sync worker in the demo world: on the world's clock, and before each pass it brings the
    provider clocks up to now when seat changes wait (`follow_world_clock` does so between passes too), so a
    change is never planned against a provider clock that has not reached it."""
    from adapter.sync.worker import Worker

    database = settings.database

    class DemoWorker(Worker):
        def run_once(self):
            db = store.open_db(database, migrate=False)
            try:
                if store.unsynced_accounts(db):
                    move_clocks(settings, db, world_now_us(database))
            except Exception as exc:  # noqa: BLE001 - the pass goes on; the clock thread tries again
                log.warning("demo clocks: %s: %s", type(exc).__name__, exc)
            finally:
                db.close()
            return super().run_once()

    return DemoWorker(settings, now_us=lambda: world_now_us(database))


def demo_advance(settings: Settings, to_us: int) -> Advanced:
    """Move the running world, and every provider clock in it, to ``to_us``: renewals and invoices happen
    on the way, and their webhooks are in the mirror when this returns."""
    session = _running_session(settings.database)
    before = world_now_us(settings.database)
    if to_us <= before:
        raise EmbeddedError(f"the demo world is already at {format_us(before)}; clocks only move forward")
    db = store.open_db(settings.database)
    try:
        _wait_for_sync(db)
        offset = world_offset_us(settings.database) + (to_us - before)
        write_session(settings.database, session["env"], url=session.get("url"), pid=int(session["pid"]),
                      offset_us=offset)
        moved = move_clocks(settings, db, to_us)
        _settle(settings, session["env"]["STRIPE_API_BASE"])
        invoices = [row for row in store.mirror_rows(db, "mirror_invoices")
                    if row.get("created") is not None and before // clock.SECOND_US <= row["created"]
                    <= to_us // clock.SECOND_US]
    finally:
        db.close()
    return Advanced(before, to_us, moved, invoices)


def demo_tamper(settings: Settings, account: str, quantity: int | None) -> tuple[int | None, int]:
    """Set ACCOUNT's seat quantity at the provider directly, as someone in its dashboard might: a drift
    that seatsync did not make, for ``seatsync reconcile`` to find. Returns (before, after)."""
    session = _running_session(settings.database)
    db = store.open_db(settings.database)
    try:
        link = accounts.get_account(db, account)
    finally:
        db.close()
    if link is None:
        raise EmbeddedError(f"unknown account {account!r}: not linked to a subscription")
    provider = registry.get(link.provider)
    state = provider.seat_client(settings).read(link.subscription, load_catalog(settings.mappings))
    if state.quantity is None:
        raise EmbeddedError(f"subscription {link.subscription} has no seat item of the catalogue")
    new = state.quantity + 2 if quantity is None else quantity
    if new == state.quantity:
        raise EmbeddedError(f"the provider already holds {new} seats: give another --quantity")
    provider.demo_set_quantity(settings, state, new)
    _settle(settings, session["env"]["STRIPE_API_BASE"])
    return state.quantity, new
