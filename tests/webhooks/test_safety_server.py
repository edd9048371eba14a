"""Issue 12 through a real ``seatsync serve`` and ``seatsync send``: the takeover and the mistyped
account, as a new user would try them (before: both 202)."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from tests.conftest import PRODUCT_SECRET, REPO_ROOT
from tests.webhooks.test_product_server import cli, kill, start_server

pytestmark = pytest.mark.slow


def test_takeover_and_mistyped_account_through_seatsync_send(tmp_path):
    env = {**os.environ, "SEATSYNC_DATABASE": str(tmp_path / "var" / "seatsync.db"),
           "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"), "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET,
           "SEATSYNC_WORKERS": "1", "SEATSYNC_THREADS": "4", "SEATSYNC_UNLINKED_EVENTS": "reject",
           "STRIPE_API_KEY": "sk_test_intake_only", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    process, base = start_server(env, tmp_path / "serve.log")
    url = ["--url", base + "/webhooks/product"]
    try:
        owner = cli(env, "send", "account.linked", "--account", "acct-a", "--provider", "stripe",
                    "--subscription", "sub_A", "--plan", "standard-monthly", "--at", "2026-03-01T00:00:00Z", *url)
        assert owner.returncode == 0 and owner.stdout.startswith("HTTP 202"), owner.stdout + owner.stderr

        takeover = cli(env, "send", "account.linked", "--account", "acct-b", "--provider", "stripe",
                       "--subscription", "sub_A", "--plan", "standard-monthly", *url)
        assert takeover.returncode == 1 and takeover.stdout.startswith("HTTP 409"), takeover.stdout
        problem = json.loads(takeover.stdout.split("\n", 1)[1])
        assert "acct-a" in problem["detail"] and "acct-b" in problem["detail"]

        typo = cli(env, "send", "seat.activated", "--account", "acct-aa", "--user", "alice", *url)
        assert typo.returncode == 1 and typo.stdout.startswith("HTTP 422"), typo.stdout
        assert json.loads(typo.stdout.split("\n", 1)[1])["errors"][0]["field"] == "/account"

        seat = cli(env, "send", "seat.activated", "--account", "acct-a", "--user", "alice", *url)
        assert seat.returncode == 0, seat.stdout

        with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
            assert response.status == 200
    finally:
        kill(process)
    shown = cli(env, "accounts", "show", "acct-b", "--format", "json")
    assert "sub_A" not in shown.stdout
