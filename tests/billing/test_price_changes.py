"""Announced price changes (issue 19 item 1): the notice rule of `policies check`, the first invoice
that carries a change and its cost, the `price.change_scheduled` notification, and `preview`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from adapter import store
from adapter.billing.policy import load_catalog, validate
from adapter.billing.preview import preview
from adapter.billing.price_changes import scheduled_price_changes
from adapter.callbacks.price_notices import notify_price_changes
from adapter.clock import to_us
from adapter.intake.parse import parse_document
from adapter.ledger import record_events

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
OSLO = ZoneInfo("Europe/Oslo")

PLAN = """
[plans.p]
provider = "stripe"
currency = "USD"
interval = "month"
proration = "second"
increase = "next_invoice"
decrease = "credit_next_invoice"
notice_days = 90
seat = {{ price_id = "price_seat", unit_amount = 500, price_changes = [{change}] }}
"""


def test_policies_check_refuses_a_price_change_with_too_little_notice(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PLAN.format(change='{ effective_from = 2027-07-01, announced_on = 2027-05-01, '
                                       'unit_amount = 600, price_id = "price_seat_2027" }'))
    [error] = validate(path)
    assert str(error) == (f"{path}: plan p: key seat.price_changes[0].announced_on: 2027-05-01 is 61 days before "
                          "effective_from 2027-07-01; the plan requires notice_days = 90 (announce by 2027-04-02)")
    path.write_text(PLAN.format(change='{ effective_from = 2027-07-01, unit_amount = 600 }'))
    [error] = validate(path)
    assert error.key == "seat.price_changes[0].announced_on" and "is required" in error.reason
    path.write_text(PLAN.format(change='{ effective_from = 2027-07-01, announced_on = 2027-04-02, unit_amount = 600 }'))
    assert validate(path) == []  # exactly 90 days is enough


def test_the_cli_names_the_file_plan_and_dates(tmp_path):
    from adapter.cli.main import cli

    (tmp_path / "p.toml").write_text(PLAN.format(change='{ effective_from = 2027-07-01, announced_on = 2027-06-01, '
                                                        'unit_amount = 600 }'))
    result = CliRunner().invoke(cli, ["policies", "check", str(tmp_path)], env={"SEATSYNC_MAPPINGS": str(tmp_path)})
    assert result.exit_code != 0
    assert "p.toml: plan p: key seat.price_changes[0].announced_on: 2027-06-01 is 30 days" in result.output


def test_the_first_invoice_at_the_new_price_is_the_first_renewal_on_or_after_effective_from():
    plan = load_catalog(MAPPINGS).plans["konfidens-pro-monthly"]
    anchor = dt.datetime(2027, 1, 15, 10, tzinfo=OSLO).astimezone(dt.UTC)
    [change] = scheduled_price_changes(plan, anchor=anchor, timezone="Europe/Oslo",
                                       at=dt.datetime(2027, 4, 10, tzinfo=dt.UTC), seats=5)
    assert (change.old.unit_amount, change.new.unit_amount) == (60000, 64900)
    assert change.first_invoice_at == dt.datetime(2027, 7, 15, tzinfo=OSLO).astimezone(dt.UTC)  # day-based terms
    assert change.renewal_amount == 5 * 64900
    assert change.notice_from() == dt.date(2027, 4, 2)
    # Once the period at the new price has begun, nothing is scheduled any more.
    assert scheduled_price_changes(plan, anchor=anchor, timezone="Europe/Oslo",
                                   at=dt.datetime(2027, 7, 20, tzinfo=dt.UTC), seats=5) == []


def link(db, catalog, account: str, plan: str, at: dt.datetime, users: int) -> None:
    events = [{"id": f"link-{account}", "type": "account.linked", "account": account, "occurred_at": at.isoformat(),
               "provider": catalog.plans[plan].provider, "subscription": f"sub-{account}", "plan": plan},
              {"id": f"snap-{account}", "type": "account.seats_snapshot", "account": account,
               "occurred_at": at.isoformat(), "users": [f"{account}-u{i}" for i in range(users)]}]
    record_events(db, parse_document({"events": events}, plans=catalog.plans, addons=catalog.addons))


def test_each_affected_account_is_notified_once_when_the_change_is_notice_days_away(db):
    catalog = load_catalog(MAPPINGS)
    start = dt.datetime(2027, 1, 15, 10, tzinfo=OSLO)
    link(db, catalog, "clinic-a", "konfidens-pro-monthly", start, 5)
    link(db, catalog, "clinic-b", "konfidens-pro-annual", start, 2)  # no price change on that plan
    assert notify_price_changes(db, catalog, at_us=to_us(dt.datetime(2027, 3, 1, tzinfo=dt.UTC))) == 0
    at = to_us(dt.datetime(2027, 4, 5, tzinfo=dt.UTC))
    assert notify_price_changes(db, catalog, at_us=at) == 1
    assert notify_price_changes(db, catalog, at_us=at + 3600 * 1_000_000) == 0
    [row] = [r for r in store.delivery_rows(db) if r["type"] == "price.change_scheduled"]
    data = json.loads(row["body"])["data"]
    assert data["account"] == "clinic-a" and data["currency"] == "NOK"
    assert (data["old_unit_amount"], data["new_unit_amount"], data["effective_from"]) == (60000, 64900, "2027-07-01")
    assert data["first_invoice_at"] == "2027-07-14T22:00:00+00:00"
    assert (data["seats"], data["renewal_amount"]) == (5, 324500)


def test_preview_shows_the_demo_clinics_scheduled_price_change(db):
    catalog = load_catalog(MAPPINGS)
    link(db, catalog, "demo-clinic", "konfidens-solo-monthly", dt.datetime(2026, 12, 1, 9, tzinfo=OSLO), 3)
    result = preview(db, catalog, "demo-clinic", at_us=to_us(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)), add=1)
    [change] = result.as_dict()["price_changes"]
    assert (change["old_unit_amount"], change["new_unit_amount"]) == (39900, 42900)
    assert change["first_invoice_at"] == "2027-06-30T22:00:00+00:00" and change["renewal_amount"] == 4 * 42900
    from adapter.billing.preview import render_table

    text = "\n".join(render_table(result))
    assert ("price change scheduled: seat 399.00 NOK → 429.00 NOK [konfidens-solo-NOK-monthly-2027] from "
            "2027-07-01; first invoice 2027-06-30T22:00:00+00:00 bills 1716.00 NOK for 4 seats "
            "(customers told by 2027-04-02)") in text, text


def test_the_account_is_made_due_once_in_the_last_period_before_the_change(db):
    catalog = load_catalog(MAPPINGS)
    link(db, catalog, "clinic-a", "konfidens-pro-monthly", dt.datetime(2027, 1, 15, 10, tzinfo=OSLO), 5)
    db.execute("UPDATE sync_state SET synced_version = ledger_version")

    def due() -> bool:
        row = store.sync_state(db, "clinic-a")
        return row["ledger_version"] > row["synced_version"]

    notify_price_changes(db, catalog, at_us=to_us(dt.datetime(2027, 6, 1, tzinfo=dt.UTC)))
    assert not due()  # the renewal on June 15 still bills the old price
    at = to_us(dt.datetime(2027, 6, 20, tzinfo=dt.UTC))
    notify_price_changes(db, catalog, at_us=at)
    assert due()
    db.execute("UPDATE sync_state SET synced_version = ledger_version")
    notify_price_changes(db, catalog, at_us=at + 3600 * 1_000_000)
    assert not due()  # once
