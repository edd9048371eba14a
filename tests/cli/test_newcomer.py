"""The friction points a newcomer met (issue 16), each through click's runner: the text a user reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from adapter import accounts, embedded, ledger, store
from adapter.billing.policy import load_catalog
from adapter.cli.main import cli
from adapter.clock import parse_instant
from adapter.intake.parse import parse_document
from tests.conftest import PRODUCT_SECRET, REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")


@pytest.fixture
def env(settings):
    return {"SEATSYNC_DATABASE": str(settings.database), "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"),
            "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET}


@pytest.fixture
def run(env):
    def invoke(*args, env_=None):
        return CliRunner().invoke(cli, list(args), env=env_ or env, catch_exceptions=False)
    return invoke


def linked(db, account="acme", plan="standard-monthly", provider="stripe", users=3, at="2026-04-01T00:00:00Z"):
    accounts.link(db, account, provider=provider, subscription=f"sub_{account}", plan=plan, timezone=None,
                  plans=CATALOG.plans, addons=CATALOG.addons, at_us=parse_instant(at))
    events = [{"id": f"{account}-u{n}", "type": "seat.activated", "account": account, "user": f"u{n}",
               "occurred_at": at} for n in range(users)]
    ledger.record_events(db, parse_document({"events": events}, plans=CATALOG.plans, addons=CATALOG.addons))


def mirror_seats(db, account, quantity, provider="stripe"):
    """The mirror's seat item (what the provider's webhooks said), and what seatsync last pushed."""
    plan = CATALOG.plans["standard-monthly" if provider == "stripe" else "konfidens-solo-monthly"]
    db["mirror_subscription_items"].insert({"provider": provider, "id": f"si_{account}",
                                            "subscription": f"sub_{account}", "price": plan.seat.price_id,
                                            "quantity": quantity, "raw": "{}"})


def test_send_without_user_names_the_flag(run):
    result = run("send", "seat.activated", "--account", "a", "--url", "http://127.0.0.1:9/x")
    assert result.exit_code == 2
    assert "--user is required for seat.activated" in result.output
    assert "/user" not in result.output
    linked_ = run("send", "account.linked", "--account", "a", "--provider", "stripe", "--url", "http://127.0.0.1:9/x")
    assert "--subscription is required for account.linked" in linked_.output


def test_send_follows_the_bind_recorded_by_serve(run, settings):
    """`serve --bind` records its address; a later `send` without --url posts there, not to :8000."""
    embedded.write_session(settings.database, {}, url="http://127.0.0.1:9")
    try:
        result = run("send", "seat.activated", "--account", "a", "--user", "u")
    finally:
        embedded.remove_session(settings.database)
    assert result.exit_code == 2
    assert "the server isn't running at http://127.0.0.1:9/webhooks/product" in result.stderr
    assert "start it with `make run`" in result.stderr


def test_worker_once_with_nothing_due_says_so(run):
    result = run("worker", "--once")
    assert result.exit_code == 0
    assert result.output == "nothing due: every account's seat changes are already at its provider\n"


def test_seats_with_none_ends_with_a_newline(run):
    result = run("seats", "nobody", "--at", "2026-04-01T00:00:00Z")
    assert result.output == "nobody at 2026-04-01T00:00:00Z: 0 seats\n"


def test_reconcile_since_after_now_names_since(run):
    result = run("reconcile", "--since", "2030-01-01T00:00:00Z")
    assert result.exit_code == 2
    assert "Invalid value for --since: is after now" in result.output
    assert "--until" not in result.output  # the user never gave it


def test_reconcile_without_the_embedded_world_says_so_instead_of_false_drift(settings, db):
    """No provider keys, no SEATSYNC_MAPPINGS and no running `make run`: ./mappings holds placeholder
    price ids, so reading a mirror through them would report every seat as drift."""
    linked(db)
    mirror_seats(db, "acme", 3)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CHARGEBEE_", "SEATSYNC_"))}
    environment["SEATSYNC_DATABASE"] = str(settings.database)
    result = subprocess.run([sys.executable, "-m", "adapter.cli.main", "reconcile"], cwd=settings.database.parent,
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the embedded world is not running" in result.stderr and "make run" in result.stderr
    assert "seat_drift" not in result.stdout


def test_accounts_show_prints_the_provider_quantity_and_the_zone_by_name(run, db):
    linked(db, "clinic", plan="konfidens-solo-monthly", provider="chargebee", users=4)
    mirror_seats(db, "clinic", 3, provider="chargebee")
    store.mark_accounts_dirty(db, ["clinic"], now_us=0)
    store.set_last_set_quantity(db, "clinic", 3)
    text = run("accounts", "show", "clinic").output
    rows = {line[:13].strip().replace(" ", "_"): line[14:] for line in text.splitlines()}  # "name<13> value"
    assert rows["timezone"].strip() == "Europe/Oslo (the plan's)"
    assert rows["billed_seats"].startswith("4 ")
    assert rows["last_pushed"].strip() == "3"
    assert rows["at_provider"].startswith("3 (mirror")
    data = json.loads(run("accounts", "show", "clinic", "--format", "json").output)["sync"]
    assert (data["billable"], data["pushed"], data["mirror"], data["timezone"]) == (4, 3, 3, "Europe/Oslo")
    live = run("accounts", "show", "clinic", "--live").output
    assert "provider now  unavailable: no chargebee API key is configured" in live


def test_accounts_list_filters_and_pages(run, db):
    linked(db, "a1", users=2)
    linked(db, "a2", users=5)
    linked(db, "c1", plan="konfidens-solo-monthly", provider="chargebee", users=1)
    for account, quantity, provider in (("a1", 2, "stripe"), ("a2", 7, "stripe"), ("c1", 1, "chargebee")):
        mirror_seats(db, account, quantity, provider)
        store.mark_accounts_dirty(db, [account], now_us=0)
        db.execute("UPDATE sync_state SET synced_version = ledger_version WHERE account = ?", [account])
        store.set_last_set_quantity(db, account, {"a2": 5}.get(account, quantity))
    table = run("accounts", "list").output.splitlines()
    assert table[0].split() == ["ACCOUNT", "PROVIDER", "SUBSCRIPTION", "PLAN", "LEDGER", "PUSHED", "AT", "PROVIDER",
                                "SYNC"]
    assert table[2].split()[:7] == ["a2", "stripe", "sub_a2", "standard-monthly", "5", "5", "7"]
    assert "drift: the provider holds 7, seatsync set 5" in table[2]
    assert table[-1] == "3 of 3 accounts"
    assert [row["account"] for row in json.loads(run("accounts", "list", "--drift", "--format", "json").output)
            ["accounts"]] == ["a2"]
    assert [r["account"] for r in json.loads(run("accounts", "list", "--provider", "chargebee", "--format",
                                                 "json").output)["accounts"]] == ["c1"]
    page = run("accounts", "list", "--limit", "2", "--page", "2").output.splitlines()
    assert page[1].split()[0] == "c1" and page[-1] == "1 of 3 accounts (page 2: 3-3)"
    assert run("accounts", "list", "--plan", "team-annual").output == "no linked accounts match\n"
