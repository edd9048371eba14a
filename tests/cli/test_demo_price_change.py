"""Issue 19 "Done when": the Konfidens demo clinic of `make run`'s world shows its announced price
change (mappings/konfidens.toml, Solo 399.00 → 429.00 NOK from 2027-07-01) in `seatsync preview` and
on its ops account page, through real processes and real HTTP."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import urllib.request

import pytest

from tests.cli.test_embedded import REPO, SEATSYNC, free_port, wait_for

TOKEN = "demo-ops-token-0123456789"


@pytest.mark.slow
def test_the_demo_clinic_shows_its_scheduled_price_change(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_"))}
    env["SEATSYNC_DATABASE"] = str(tmp_path / "seatsync.db")
    env["SEATSYNC_OPS_TOKEN"] = TOKEN
    port, sandbox_port = free_port(), free_port()
    server = subprocess.Popen(SEATSYNC + ["serve", "--bind", f"127.0.0.1:{port}", "--sandbox-port", str(sandbox_port)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        def clinic_linked():
            try:
                with sqlite3.connect(tmp_path / "seatsync.db") as db:
                    row = db.execute("SELECT subscription FROM accounts WHERE account = 'demo-clinic'").fetchone()
                return row and row[0]
            except sqlite3.Error:
                return None

        wait_for(clinic_linked, what="the demo clinic")
        preview = subprocess.run(SEATSYNC + ["preview", "demo-clinic", "--format", "json"],
                                 cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert preview.returncode == 0, preview.stderr
        changes = json.loads(preview.stdout)["price_changes"]
        assert [(c["item"], c["currency"], c["old_unit_amount"], c["new_unit_amount"], c["effective_from"][:10])
                for c in changes] == [("seat", "NOK", 39900, 42900, "2027-07-01")]
        text = subprocess.run(SEATSYNC + ["preview", "demo-clinic"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=30)
        assert "price change scheduled: seat 399.00" in text.stdout, text.stdout

        def page(fmt):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/ops/accounts/demo-clinic?format={fmt}",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.read().decode()
            except OSError:
                return None

        data = json.loads(wait_for(lambda: page("json"), what="the ops account page"))
        assert [(c["item"], c["new_unit_amount"]) for c in data["price_changes"]] == [("seat", 42900)]
        html = page("html")
        assert html is not None and 'class="price-change" data-effective="2027-07-01' in html, html
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
