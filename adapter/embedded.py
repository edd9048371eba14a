"""The embedded setup behind ``make run``: the local provider sandbox and a ready demo world.

With no provider keys configured, ``seatsync serve`` starts the sandbox that
ships in the source tree (``python -m tests.sandbox``, a separate process:
seatsync never imports it), points both SDKs at it, registers seatsync's
webhook receivers with it, and seeds one demo account per article policy, so
a newcomer can ``seatsync send`` a seat event and watch quantities and
pending charges change.

The sandbox keeps its state in memory, so every start seeds afresh; a demo
account that already has seats in the ledger is relinked to a new
subscription carrying its current seat count.
"""

from __future__ import annotations

import json
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


def start_sandbox(repo_root: Path, port: int, database: Path, *, timeout: float = 20.0) -> EmbeddedSandbox:
    if not (repo_root / "tests" / "sandbox" / "__main__.py").exists():
        raise EmbeddedError("no provider keys are set and this installation has no local sandbox "
                            "(it ships with the source tree): set STRIPE_API_KEY or CHARGEBEE_API_KEY")
    url = f"http://127.0.0.1:{port}"
    log_path = database.parent / "embedded" / "sandbox.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the sandbox's request log, out of the way of seatsync's own
        process = subprocess.Popen([sys.executable, "-m", "tests.sandbox", "--port", str(port)], cwd=repo_root,
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


def write_session(database: Path, env: dict[str, str]) -> Path:
    """Record the running embedded world (provider settings and the rewritten catalogue) for other commands.

    ``seatsync reconcile``, ``preview`` or ``worker`` run from a second terminal must talk to the same
    sandbox and read the catalogue with the price ids the sandbox created; without this they would use
    ``./mappings`` and see every mirrored line as a foreign price.
    """
    path = database.parent / "embedded" / SESSION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds webhook secrets
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": os.getpid(), "env": env}, handle)
    os.replace(temporary, path)
    return path


def remove_session(database: Path) -> None:
    (database.parent / "embedded" / SESSION_FILE).unlink(missing_ok=True)


def session_env(database: Path) -> dict[str, str] | None:
    """The running embedded world's settings, or None when no ``seatsync serve`` of it is alive."""
    path = database.parent / "embedded" / SESSION_FILE
    try:
        session = json.loads(path.read_text())
        os.kill(int(session["pid"]), 0)  # a session left by a killed server names a dead sandbox
    except (OSError, ValueError, KeyError, TypeError):
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
            subscription = registry.get(plan.provider).demo_subscription(settings, account, plan, quantity, key)
            accounts.link(db, account, provider=plan.provider, subscription=subscription, plan=plan_id,
                          timezone=None, plans=catalog.plans, addons=catalog.addons, at_us=now)
            snapshot = {"id": f"{account}-snapshot-{now}", "type": "account.seats_snapshot", "account": account,
                        "occurred_at": format_us(now), "users": users}
            ledger.record_events(db, parse_document(snapshot, plans=catalog.plans, addons=catalog.addons))
    finally:
        db.close()
    return settings
