"""seatsync policies check and seatsync preview, through click's CliRunner on a real ledger."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from adapter import accounts, ledger
from adapter.billing.policy import load_catalog
from adapter.cli.main import cli
from adapter.clock import parse_instant
from adapter.intake.parse import parse_document
from adapter.store.connection import open_db
from tests.conftest import PRODUCT_SECRET, REPO_ROOT

CATALOG = load_catalog(REPO_ROOT / "mappings")


@pytest.fixture
def env(settings):
    return {"SEATSYNC_DATABASE": str(settings.database), "SEATSYNC_MAPPINGS": str(REPO_ROOT / "mappings"),
            "SEATSYNC_PRODUCT_SECRETS": PRODUCT_SECRET}


@pytest.fixture
def run(env):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    return invoke


@pytest.fixture
def ledger_db(settings):
    db = open_db(settings.database)
    yield db
    db.close()


def setup_account(db, account, plan, linked_at, users, *, timezone=None, provider="stripe", later=()):
    """Link ``account`` at ``linked_at`` (the billing anchor) with ``users`` active from then on.

    Link a period or more before the previewed one: users activated at a period's very start
    are that period's opening charge, and would show up as a full-period proration."""
    accounts.link(db, account, provider=provider, subscription=f"sub_{account}", plan=plan, timezone=timezone,
                  plans=CATALOG.plans, addons=CATALOG.addons, at_us=parse_instant(linked_at))
    events = [{"id": f"{account}-u{n}", "type": "seat.activated", "account": account, "user": f"user{n}",
               "occurred_at": linked_at} for n in range(users)]
    events += [{"id": f"{account}-later{n}", "type": kind, "account": account, "user": user, "occurred_at": when}
               for n, (kind, user, when) in enumerate(later)]
    ledger.record_events(db, parse_document({"events": events}, plans=CATALOG.plans, addons=CATALOG.addons))


# --- policies check --------------------------------------------------------------------------


def test_policies_check_passes_on_the_shipped_mappings(run):
    result = run("policies", "check")
    assert result.exit_code == 0, result.output
    assert "konfidens.toml: 4 plans (konfidens-pro-annual, konfidens-pro-monthly" in result.output
    assert result.output.strip().endswith("ok: 20 plans, 3 addons")  # 10 originals + mappings/other_provider.toml


def test_policies_check_names_file_plan_key_and_reason_and_exits_1(run, tmp_path):
    text = (REPO_ROOT / "mappings" / "standard_premium.toml").read_text()
    (tmp_path / "broken.toml").write_text(text.replace('interval = "year"', 'interval = "fortnight"', 1))
    result = run("policies", "check", str(tmp_path))
    assert result.exit_code == 1
    assert (f"{tmp_path / 'broken.toml'}: plan standard-annual: key interval: "
            "must be one of month, year, got 'fortnight'") in result.output
    assert "seatsync: 1 error in" in result.output


# --- preview ---------------------------------------------------------------------------------


def test_preview_001_standard_to_premium_at_half(run, ledger_db):
    setup_account(ledger_db, "acme", "standard-monthly", "2026-03-01T00:00:00Z", 10)
    result = run("preview", "acme", "--plan", "premium-monthly", "--at", "2026-04-16T00:00:00Z", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [line["amount"] for line in data["lines"]] == [-500, 1500, -2500, 5000]
    assert data["net"] == 3500
    assert {(line["billed"], line["billed_at"]) for line in data["lines"]} \
        == {("next_invoice", "2026-05-01T00:00:00+00:00")}
    assert data["invoice"]["total"] == 3500 + 13000
    table = run("preview", "acme", "--plan", "premium-monthly", "--at", "2026-04-16T00:00:00Z").output
    assert "net     35.00 USD" in table
    assert "Remaining time on 10 × Premium (monthly) seat after 16 Apr 2026" in table


def test_preview_000_deactivation_on_april_16_in_oslo(run, ledger_db):
    setup_account(ledger_db, "clinic", "konfidens-pro-monthly", "2026-03-01T00:00:00+01:00", 3,
                  timezone="Europe/Oslo", provider="chargebee")
    data = json.loads(run("preview", "clinic", "--remove", "1", "--at", "2026-04-16T14:00:00+02:00",
                          "--format", "json").output)
    (line,) = data["lines"]
    assert (line["kind"], line["quantity"], line["amount"]) == ("proration_credit", 1, -30000)
    assert line["period_start"] == "2026-04-15T22:00:00+00:00"  # 16 April, 00:00 in Oslo
    assert (data["seats_before"], data["seats_after"]) == (3, 2)
    assert data["period"] == {"start": "2026-03-31T22:00:00+00:00", "end": "2026-04-30T22:00:00+00:00"}
    table = run("preview", "clinic", "--remove", "1", "--at", "2026-04-16T14:00:00+02:00").output
    # Oslo time, to the second: 16 April 00:00 to 1 May 00:00, billed at the renewal, 1 May 00:00 in Oslo.
    assert "-300.00 NOK" in table and "next_invoice at 2026-05-01 00:00:00" in table
    assert "period  2026-04-01 00:00:00 → 2026-05-01 00:00:00" in table
    assert "2026-04-16 00:00:00  2026-05-01 00:00:00" in table
    assert "times   Europe/Oslo" in table
    utc = run("preview", "clinic", "--remove", "1", "--at", "2026-04-16T14:00:00+02:00", "--utc").output
    assert "next_invoice at 2026-04-30 22:00:00" in utc and "times   UTC" in utc


def test_preview_002_threshold_crossing_sweeps_the_pending_prorations(run, ledger_db):
    """The ledger holds the golden scenario's Jul 2 and Aug 1 additions (pending 9205); adding two users on
    Sep 1 nets 6685 and makes the pending total 15890 > 15000: billed at once ("threshold")."""
    setup_account(ledger_db, "team", "team-annual", "2025-01-01T00:00:00Z", 10,
                  later=[("seat.activated", "late1", "2026-07-02T00:00:00Z"),
                         ("seat.activated", "late2", "2026-08-01T00:00:00Z")])
    data = json.loads(run("preview", "team", "--add", "2", "--at", "2026-09-01T00:00:00Z", "--format", "json").output)
    assert [line["amount"] for line in data["lines"]] == [-40110, 46795]
    assert {line["billed"] for line in data["lines"]} == {"threshold"}
    assert (data["invoice"]["billed_at"], data["invoice"]["total"], data["invoice"]["lines"]) == (
        "2026-09-01T00:00:00+00:00", 15890, 6)
    table = run("preview", "team", "--add", "2", "--at", "2026-09-01T00:00:00Z").output
    assert_footer_counts_what_is_shown(table)
    quiet = json.loads(run("preview", "team", "--add", "1", "--at", "2026-09-01T00:00:00Z", "--format", "json").output)
    assert {line["billed"] for line in quiet["lines"]} == {"next_invoice"}  # 9205 + 3342 stays under


def test_preview_002_monthly_has_nothing_to_prorate(run, ledger_db):
    setup_account(ledger_db, "m", "team-monthly", "2026-01-01T00:00:00Z", 4)
    result = run("preview", "m", "--add", "3", "--at", "2026-04-16T00:00:00Z")
    assert result.exit_code == 0
    assert "no proration lines" in result.output
    assert "period  2026-04-01 00:00:00 → 2026-05-01 00:00:00" in result.output


def test_preview_without_a_change_shows_where_the_account_stands(run, ledger_db):
    setup_account(ledger_db, "acme", "standard-monthly", "2026-04-01T00:00:00Z", 2)
    result = run("preview", "acme", "--at", "2026-04-10T00:00:00Z", "--utc")
    assert result.exit_code == 0, result.output
    assert "change  none (seats 2)" in result.output and "no proration lines" not in result.output


def test_preview_refuses_bad_requests(run, ledger_db):
    setup_account(ledger_db, "acme", "standard-monthly", "2026-04-01T00:00:00Z", 2)
    unknown = run("preview", "nobody", "--add", "1")
    assert unknown.exit_code == 1 and "unknown account 'nobody'" in unknown.output
    both = run("preview", "acme", "--add", "1", "--remove", "1")
    assert both.exit_code == 2 and "at most one of --add N, --remove N, --plan PLAN" in both.output
    too_many = run("preview", "acme", "--remove", "3", "--at", "2026-04-10T00:00:00Z")
    assert too_many.exit_code == 1 and "cannot remove 3 seats: the account has 2" in too_many.output
    other_currency = run("preview", "acme", "--plan", "konfidens-pro-monthly", "--at", "2026-04-10T00:00:00Z")
    assert other_currency.exit_code == 1 and "changes currency" in other_currency.output
    naive = run("preview", "acme", "--add", "1", "--at", "2026-04-10T00:00:00")
    assert naive.exit_code == 2 and "UTC offset" in naive.output


def assert_footer_counts_what_is_shown(table: str) -> None:
    """The invoice footer's line count and total are those of the line rows printed above it."""
    import re
    from decimal import Decimal

    rows = [line for line in table.splitlines() if re.match(r"^(proration_|base_fee|seats|addon)", line)]
    footer = next(line for line in table.splitlines() if line.startswith("invoice at "))
    count, total = re.search(r": (\d+) lines .*total (-?[\d.]+) ", footer).groups()
    amounts = [Decimal(re.search(r"(-?[\d.]+) [A-Z]{3}\s+\d{4}-", row).group(1)) for row in rows]
    assert int(count) == len(rows), table
    assert Decimal(total) == sum(amounts), table
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", table), table  # no microseconds


def test_preview_lists_every_line_its_invoice_footer_counts(run, ledger_db):
    """Two earlier changes pending and the renewal on the same invoice: "6 lines" under 6 rows, not 2."""
    setup_account(ledger_db, "std", "standard-monthly", "2026-04-01T00:00:00Z", 10,
                  later=[("seat.activated", "late1", "2026-04-10T00:00:00.123456Z")])
    table = run("preview", "std", "--add", "1", "--at", "2026-04-16T12:00:00.654321Z").output
    assert "6 lines (2 of this change, 4 above)" in table
    assert_footer_counts_what_is_shown(table)
    header = next(line for line in table.splitlines() if line.startswith("KIND"))
    row = next(line for line in table.splitlines() if line.startswith("proration_debit"))
    assert row.index("2026-04-16 12:00:00") == header.index("FROM")  # columns aligned under their titles
    assert row.index("2026-05-01 00:00:00") == header.index("TO")
