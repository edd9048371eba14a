"""`seatsync serve` on its embedded defaults, as `make run` starts it: real processes, real HTTP.

The sandbox is started by seatsync itself, seeded with a demo account per
article policy; a signed seat event sent with `seatsync send` must come out as
a quantity change and its proration lines at the sandbox.
"""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parent.parent
SEATSYNC = [sys.executable, "-m", "adapter.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_"))}
    env["SEATSYNC_DATABASE"] = str(tmp_path / "seatsync.db")
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
            items = client.v1.subscriptions.retrieve(subscription).to_dict()["items"]["data"]
            return [i["quantity"] for i in items if i["quantity"] == 11]

        wait_for(seats_at_provider, what="quantity 11 at the sandbox")
        pending = client.v1.invoice_items.list({"pending": True, "limit": 100}).to_dict()["data"]
        lines = sorted(i["quantity"] for i in pending if i["description"].find("Standard") >= 0)
        assert lines == [10, 11]  # one credit/debit pair: 10 seats' unused time, 11 seats' remaining time
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
