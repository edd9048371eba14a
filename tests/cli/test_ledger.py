"""seatsync accounts link|show, seats and send, through click's CliRunner (send over real HTTP)."""

import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from adapter import ledger, store
from adapter.cli.main import cli
from adapter.clock import parse_instant
from tests.conftest import PRODUCT_SECRET, REPO_ROOT


@pytest.fixture
def env(settings):
    return {
        "SEATSYNC_DATABASE": str(settings.database),
        "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"),
        "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET,
    }


@pytest.fixture
def run(env):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    return invoke


@pytest.fixture
def server_url(app):
    """The app on a real loopback socket (werkzeug in a thread)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/product"
    server.shutdown()
    thread.join()


def test_link_then_show(run):
    result = run("accounts", "link", "acme", "--provider", "chargebee", "--subscription", "sub_9",
                 "--plan", "team-monthly", "--timezone", "Asia/Tokyo")
    assert result.exit_code == 0, result.output
    assert "linked acme to chargebee subscription sub_9 on plan team-monthly" in result.output
    shown = json.loads(run("accounts", "show", "acme", "--format", "json").output)
    assert shown["link"]["provider"] == "chargebee"
    assert shown["link"]["subscription"] == "sub_9"
    assert shown["link"]["timezone"] == "Asia/Tokyo"
    assert shown["plan"] == "team-monthly"
    table = run("accounts", "show", "acme").output
    assert "sub_9" in table and "Asia/Tokyo" in table


def test_link_rejects_unknown_plan_and_timezone_and_stores_nothing(run, db):
    result = run("accounts", "link", "acme", "--provider", "stripe", "--subscription", "s", "--plan", "gold",
                 "--timezone", "Mars/Base")
    assert result.exit_code == 2
    assert "plan: unknown plan 'gold'" in result.output
    assert "timezone: unknown IANA time zone" in result.output
    assert store.count_product_rows(db)["product_events"] == 0


def test_show_unknown_account_exits_1(run):
    result = run("accounts", "show", "nobody")
    assert result.exit_code == 1
    assert "unknown account 'nobody'" in result.output


def test_send_then_seats_over_real_http(run, server_url, db):
    sent = run("send", "seat.activated", "--account", "acme", "--user", "ann", "--user", "bob",
               "--at", "2026-03-01T10:00:00Z", "--id", "e", "--url", server_url)
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("HTTP 202")
    assert json.loads(sent.output.split("\n", 1)[1])["results"] == [
        {"id": "e-1", "result": "accepted"}, {"id": "e-2", "result": "accepted"}]
    run("send", "seat.deactivated", "--account", "acme", "--user", "bob", "--at", "2026-03-01T12:00:00+01:00",
        "--url", server_url)
    seats = json.loads(run("seats", "acme", "--at", "2026-03-01T11:00:00Z", "--format", "json").output)
    assert seats == {"account": "acme", "at": "2026-03-01T11:00:00Z", "seats": 1, "users": ["ann"]}
    table = run("seats", "acme", "--at", "2026-03-01T10:30:00Z").output
    assert table.splitlines() == ["acme at 2026-03-01T10:30:00Z: 2 seats", "  ann", "  bob"]


@pytest.mark.parametrize("args,check", [
    (["account.plan_changed", "--plan", "standard-monthly"],
     lambda db, t: ledger.plan_at(db, "acme", t) == "standard-monthly"),
    (["account.seats_snapshot", "--user", "x", "--user", "y"],
     lambda db, t: ledger.active_users(db, "acme", t) == ["x", "y"]),
    (["account.addons_changed", "--addon", "konfidens-sms-monthly"],
     lambda db, t: ledger.addons_at(db, "acme", t) == ("konfidens-sms-monthly",)),
    (["account.linked", "--provider", "stripe", "--subscription", "sub_1", "--plan", "team-monthly"],
     lambda db, t: store.account_link(db, "acme")["subscription"] == "sub_1"),
])
def test_send_every_type(run, server_url, db, args, check):
    result = run("send", *args, "--account", "acme", "--at", "2026-03-01T10:00:00Z", "--url", server_url)
    assert result.exit_code == 0, result.output
    assert check(db, parse_instant("2026-03-01T10:00:00Z"))


def test_send_shows_the_problem_and_exits_1(run, server_url, db):
    result = run("send", "account.plan_changed", "--account", "acme", "--plan", "gold", "--url", server_url)
    assert result.exit_code == 1
    assert result.stdout.startswith("HTTP 422")
    assert json.loads(result.stdout.split("\n", 1)[1])["errors"][0]["field"] == "/plan"
    assert "seatsync: --plan unknown plan 'gold'" in result.stderr  # the flag, not the JSON pointer


def test_send_with_the_wrong_secret_is_refused(run, server_url, env):
    from adapter.config import new_whsec
    result = CliRunner().invoke(cli, ["send", "seat.activated", "--account", "a", "--user", "u", "--url", server_url],
                                env={**env, "SEATSYNC_PRODUCT_SECRETS": new_whsec()})
    assert result.exit_code == 1
    assert result.output.startswith("HTTP 401")


def test_send_to_nothing_says_so(run):
    result = run("send", "seat.activated", "--account", "a", "--user", "u", "--url", "http://127.0.0.1:9/x")
    assert result.exit_code == 2
    assert "the server isn't running at http://127.0.0.1:9/x" in result.stderr
    assert "start it with `make run`" in result.stderr


def test_bad_at_is_a_usage_error(run):
    result = run("seats", "acme", "--at", "2026-03-01T10:00:00")
    assert result.exit_code == 2
    assert "UTC offset" in result.output
