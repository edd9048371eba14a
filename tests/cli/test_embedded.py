"""`seatsync serve` on its embedded defaults, as `make run` starts it: real processes, real HTTP.

The sandbox is started by seatsync itself, seeded with a demo account per
article policy; a signed seat event sent with `seatsync send` must come out as
a quantity change and its proration lines at the sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import stripe

REPO = Path(__file__).resolve().parents[2]
SEATSYNC = [sys.executable, "-m", "adapter.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_call(call, timeout=30.0):
    """One read at the sandbox, retried while it answers 429: seatsync's worker paces itself to the same
    25 requests/s budget (Stripe's test mode), so a poll of our own may find the budget spent."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except stripe.RateLimitError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


OPS_TOKEN = "ops-token-for-the-make-run-test"


def scrape_metrics(port: int) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Authorization": f"Bearer {OPS_TOKEN}"})
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def wait_for(check, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_make_run_world_turns_a_signed_seat_event_into_a_quantity_update(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_", "PROMETHEUS_"))}
    env["SEATSYNC_DATABASE"] = str(tmp_path / "seatsync.db")
    env["SEATSYNC_OPS_TOKEN"] = OPS_TOKEN
    port, sandbox_port = free_port(), free_port()
    server = subprocess.Popen(SEATSYNC + ["serve", "--bind", f"127.0.0.1:{port}", "--sandbox-port", str(sandbox_port)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": f"http://127.0.0.1:{sandbox_port}"})

        def demo_subscription():
            try:
                with sqlite3.connect(tmp_path / "seatsync.db") as db:
                    row = db.execute("SELECT subscription FROM accounts WHERE account = 'demo-standard'").fetchone()
                return row and row[0]
            except sqlite3.Error:
                return None

        subscription = wait_for(demo_subscription, what="the demo world")

        def healthy():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
            except OSError:
                return False

        wait_for(healthy, what="gunicorn")
        sent = subprocess.run(SEATSYNC + ["send", "seat.activated", "--account", "demo-standard", "--user", "newcomer",
                                          "--url", f"http://127.0.0.1:{port}/webhooks/product"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "202" in sent.stdout

        def seats_at_provider():
            items = sandbox_call(lambda: client.v1.subscriptions.retrieve(subscription)).to_dict()["items"]["data"]
            return [i["quantity"] for i in items if i["quantity"] == 11]

        wait_for(seats_at_provider, what="quantity 11 at the sandbox")
        # The sync worker (this serve's own process) and the gunicorn workers count into one multiprocess
        # folder; /metrics adds them up.
        samples = scrape_metrics(port)
        assert samples[("seatsync_intake_events_total", (("result", "accepted"),))] >= 1
        assert sum(value for (name, labels), value in samples.items()
                   if name == "seatsync_provider_calls_total" and ("outcome", "ok") in labels) >= 1
        assert ("seatsync_due_accounts", ()) in samples and samples[("seatsync_database_bytes", ())] > 0
        pending = sandbox_call(lambda: client.v1.invoice_items.list({"pending": True, "limit": 100})).to_dict()["data"]
        lines = sorted(i["quantity"] for i in pending if i["description"].find("Standard") >= 0)
        assert lines == [10, 11]  # one credit/debit pair: 10 seats' unused time, 11 seats' remaining time

        # A second terminal joins the running world: the sandbox's price ids, and a clean reconciliation
        # once the provider's webhooks have been mirrored.
        preview = subprocess.run(SEATSYNC + ["preview", "demo-standard", "--add", "1", "--format", "json"],
                                 cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert preview.returncode == 0, preview.stderr
        live = sandbox_call(lambda: client.v1.subscriptions.retrieve(subscription)).to_dict()
        sandbox_prices = {i["price"]["id"] for i in live["items"]["data"]}
        assert {line["price_id"] for line in json.loads(preview.stdout)["lines"]} <= sandbox_prices

        def reconciled():
            run = subprocess.run(SEATSYNC + ["reconcile", "--format", "json"], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=30)
            return run if run.returncode == 0 else None

        report = json.loads(wait_for(reconciled, what="a clean reconciliation of the demo world").stdout)
        assert report["summary"]["accounts"] == 3
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
    assert not (tmp_path / "embedded" / "session.json").exists()  # the world is gone with its server
    # The log shows the seat change reaching the provider (README: "watch it reach the provider"), and
    # the request that brought it.
    assert any("quantity 11 ok" in line and "demo-standard" in line for line in output.splitlines()), output
    assert "POST /webhooks/product 202" in output, output


def test_only_a_live_servers_session_is_joined(tmp_path):
    from adapter import embedded

    database = tmp_path / "seatsync.db"
    path = embedded.write_session(database, {"STRIPE_API_BASE": "http://127.0.0.1:1"})
    assert embedded.session_env(database) == {"STRIPE_API_BASE": "http://127.0.0.1:1"}  # this process is alive
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds the webhook secrets
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "env": {"STRIPE_API_BASE": "http://127.0.0.1:1"}}))
    assert embedded.session_env(database) is None  # a killed server's sandbox is gone
    path.write_text("{not json")
    assert embedded.session_env(database) is None
    embedded.remove_session(database)
    assert embedded.session_env(database) is None


@pytest.mark.slow
def test_the_readme_demo_runs_a_month_and_finds_the_tampered_seats(tmp_path):
    """The README's quick start, as a newcomer runs it: `make run`'s world (a real `seatsync serve` with its
    sandbox), a seat change reaching the provider, a renewal after `demo advance`, and a difference that
    `demo tamper` makes, found by `reconcile` and corrected by `reconcile --fix`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_"))}
    env["SEATSYNC_DATABASE"] = str(tmp_path / "seatsync.db")
    port, sandbox_port = free_port(), free_port()
    server = subprocess.Popen(SEATSYNC + ["serve", "--bind", f"127.0.0.1:{port}", "--sandbox-port", str(sandbox_port)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)

    def seatsync(*args):
        return subprocess.run(SEATSYNC + list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    try:
        session = tmp_path / "embedded" / "session.json"
        wait_for(lambda: session.exists() and json.loads(session.read_text()).get("url"), what="the session file")
        assert json.loads(session.read_text())["url"] == f"http://127.0.0.1:{port}"  # serve --bind, recorded

        def healthy():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
            except OSError:
                return False

        wait_for(healthy, what="gunicorn")
        sent = seatsync("send", "seat.activated", "--account", "demo-standard", "--user", "alice")  # no --url
        assert sent.returncode == 0 and sent.stdout.startswith("HTTP 202"), sent.stdout + sent.stderr

        def shown():
            text = seatsync("accounts", "show", "demo-standard", "--live").stdout
            return text if "at provider   11 (mirror" in text and "provider now  11 (read from its API)" in text \
                else None

        text = wait_for(shown, what="the seat change at the provider, in accounts show")
        assert "last pushed   11" in text and "timezone      UTC (the plan's)" in text

        advanced = seatsync("demo", "advance", "--days", "32")
        assert advanced.returncode == 0, advanced.stdout + advanced.stderr
        assert "Stripe test clock" in advanced.stdout and "Chargebee time machine" in advanced.stdout
        assert "(stripe, subscription_cycle, " in advanced.stdout  # demo-standard's renewal

        report = json.loads(seatsync("reconcile", "--format", "json").stdout)
        assert report["summary"]["invoices"] >= 2 and report["summary"]["actual_lines"] >= 4, report
        assert report["differences"] == [], report  # the renewal billed what the ledger and policy say
        table = seatsync("reconcile")
        assert table.returncode == 0 and "found    0 differences" in table.stdout, table.stdout

        tampered = seatsync("demo", "tamper", "demo-standard")
        assert tampered.returncode == 0, tampered.stderr
        assert "set from 11 to 13, behind seatsync's back" in tampered.stdout
        found = seatsync("reconcile")
        assert found.returncode == 1, found.stdout + found.stderr
        assert "seat_drift" in found.stdout and "provider (mirror) 13" in found.stdout
        fixed = seatsync("reconcile", "--fix")
        assert "fixed    demo-standard: the provider had 13 seats, the ledger 11" in fixed.stdout, fixed.stdout
        after = fixed.stdout.split("report after the fix")[1]
        assert "seat_drift" not in after and "found    0 differences" in after, fixed.stdout
        assert fixed.returncode == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
    stopped = seatsync("reconcile")  # the world is gone: no false drift through ./mappings' placeholders
    assert stopped.returncode == 2 and "the embedded world is not running" in stopped.stderr
