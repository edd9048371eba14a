"""Classification rules on an in-memory database: the mirror starts as exactly what the engine expects
(so a clean account reports nothing), then one fault is written into it per test."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from adapter import reconcile, store
from adapter.accounts import get_account
from adapter.billing.expected import expected_bill
from adapter.billing.policy import load_catalog
from adapter.cli.main import cli
from adapter.intake.parse import parse_document
from adapter.ledger import record_events
from tests.support.provisioning import REPO_MAPPINGS

US = 1_000_000


def ts(*parts) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


APRIL_1, APRIL_16, MAY_1 = ts(2026, 4, 1), ts(2026, 4, 16), ts(2026, 5, 1)
NOW = MAY_1 + 3600


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_MAPPINGS)


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def account(db, catalog, plan="standard-monthly", changes=(("d", APRIL_16, True),), name="acme"):
    """A linked Stripe account whose mirror holds exactly the engine's lines, one invoice per billing instant."""
    sub = f"sub_{name}"
    events = [{"id": f"{name}-link", "type": "account.linked", "account": name, "occurred_at": iso(APRIL_1),
               "provider": "stripe", "subscription": sub, "plan": plan},
              {"id": f"{name}-snap", "type": "account.seats_snapshot", "account": name,
               "occurred_at": iso(APRIL_1), "users": ["a", "b", "c"]}]
    for user, at, active in changes:
        events.append({"id": f"{name}-{user}-{at}", "type": "seat.activated" if active else "seat.deactivated",
                       "account": name, "occurred_at": iso(at), "user": user})
    record_events(db, parse_document({"events": events}, plans=catalog.plans, addons=catalog.addons))
    bill = expected_bill(db, catalog, get_account(db, name), NOW * US).bill
    quantity = catalog.plans[plan].billable_seats(3 + sum(1 if a else -1 for _, _, a in changes))
    db.execute("INSERT OR REPLACE INTO sync_state (account, ledger_version, synced_version, last_set_quantity) "
               "VALUES (?, 1, 1, ?)", [name, quantity])
    store.upsert_mirror_row(db, "mirror_subscriptions", {"provider": "stripe", "id": sub, "status": "active",
                                                         "raw": "{}"})
    store.upsert_mirror_row(db, "mirror_subscription_items", {
        "provider": "stripe", "id": f"si_{name}", "subscription": sub, "price": catalog.plans[plan].seat.price_id,
        "quantity": quantity, "raw": "{}"})
    for n, line in enumerate(bill.lines):
        invoice = f"in_{name}_{int(line.billed_at.timestamp())}"
        store.upsert_mirror_row(db, "mirror_invoices", {
            "provider": "stripe", "id": invoice, "subscription": sub, "status": "paid", "currency": "usd",
            "amount_due": 0, "amount_paid": 0, "created": int(line.billed_at.timestamp()), "raw": "{}"})
        add_line(db, invoice, sub, f"il_{name}_{n}", line.price_id, line.period_start, line.period_end,
                 line.quantity, line.amount, line.proration)
    return sub


def add_line(db, invoice, sub, line_id, price, start, end, quantity, amount, proration, table="mirror_invoice_lines"):
    row = {"provider": "stripe", "id": line_id, "subscription": sub, "price": price,
           "period_start": int(start.timestamp()) if hasattr(start, "timestamp") else start,
           "period_end": int(end.timestamp()) if hasattr(end, "timestamp") else end,
           "quantity": quantity, "amount": amount, "proration": int(proration), "raw": "{}"}
    if table == "mirror_invoice_lines":
        row["invoice"] = invoice
    store.upsert_mirror_row(db, table, row)


def run(db, catalog, **kwargs):
    return reconcile.reconcile(db, catalog, since_us=APRIL_1 * US, until_us=(MAY_1 + 86400) * US, now_us=NOW * US,
                               **kwargs)


def kinds(report):
    return [d.kind for d in report.differences]


def lines_of(db, sub):
    return list(db.query("SELECT l.* FROM mirror_invoice_lines l JOIN mirror_invoices i ON i.id = l.invoice "
                         "WHERE i.subscription = ? ORDER BY l.id", [sub]))


def test_the_engines_own_lines_reconcile_to_nothing(memory_db, catalog):
    account(memory_db, catalog)
    report = run(memory_db, catalog)
    assert report.clean and report.invoices == 1 and report.lines == 4


def test_one_minor_unit_is_tolerated_two_are_a_wrong_amount(memory_db, catalog):
    sub = account(memory_db, catalog)
    debit = next(line for line in lines_of(memory_db, sub) if line["proration"] and line["amount"] > 0)
    memory_db.execute("UPDATE mirror_invoice_lines SET amount = amount + 1 WHERE id = ?", [debit["id"]])
    assert kinds(run(memory_db, catalog)) == []
    assert kinds(run(memory_db, catalog, tolerance=0)) == ["wrong_amount"]
    memory_db.execute("UPDATE mirror_invoice_lines SET amount = amount + 1 WHERE id = ?", [debit["id"]])
    [difference] = run(memory_db, catalog).differences
    assert (difference.kind, difference.money_at_stake, difference.line) == ("wrong_amount", 2, debit["id"])


def test_a_second_copy_of_a_proration_is_a_duplicate(memory_db, catalog):
    sub = account(memory_db, catalog)
    debit = next(line for line in lines_of(memory_db, sub) if line["proration"] and line["amount"] > 0)
    add_line(memory_db, debit["invoice"], sub, "il_copy", debit["price"], debit["period_start"], debit["period_end"],
             debit["quantity"], debit["amount"], True)
    [difference] = run(memory_db, catalog).differences
    assert (difference.kind, difference.money_at_stake) == ("duplicated_proration", debit["amount"])


def test_a_renewal_billing_the_wrong_seat_count(memory_db, catalog):
    sub = account(memory_db, catalog)
    renewal = next(line for line in lines_of(memory_db, sub) if not line["proration"] and line["quantity"] == 4)
    memory_db.execute("UPDATE mirror_invoice_lines SET quantity = 6, amount = 3000 WHERE id = ?", [renewal["id"]])
    [difference] = run(memory_db, catalog).differences
    assert difference.kind == "wrong_quantity_at_renewal"
    assert (difference.expected_quantity, difference.actual_quantity, difference.money_at_stake) == (4, 6, 1000)


def test_a_missing_proration_and_a_credit_left_pending(memory_db, catalog):
    sub = account(memory_db, catalog)
    credit = next(line for line in lines_of(memory_db, sub) if line["amount"] < 0)
    memory_db.execute("DELETE FROM mirror_invoice_lines WHERE id = ?", [credit["id"]])
    assert kinds(run(memory_db, catalog)) == ["missing_proration"]
    # The same credit, still a pending item after the invoice it was due on.
    add_line(memory_db, None, sub, "ii_credit", credit["price"], credit["period_start"], credit["period_end"],
             credit["quantity"], credit["amount"], True, table="mirror_pending_charges")
    [difference] = run(memory_db, catalog).differences
    assert (difference.kind, difference.money_at_stake) == ("credit_not_applied", -credit["amount"])


def test_a_threshold_passed_but_never_invoiced(memory_db, catalog):
    # Team annual ($100/seat/year, threshold $150): three seats on April 16 gather about $212.
    changes = tuple((f"n{i}", APRIL_16, True) for i in range(3))
    sub = account(memory_db, catalog, plan="team-annual", changes=changes)
    threshold = [line for line in lines_of(memory_db, sub) if line["proration"]]
    assert threshold, "the engine bills the threshold invoice in April"
    for line in threshold:
        memory_db.execute("DELETE FROM mirror_invoice_lines WHERE id = ?", [line["id"]])
        add_line(memory_db, None, sub, f"ii_{line['id']}", line["price"], line["period_start"], line["period_end"],
                 line["quantity"], line["amount"], True, table="mirror_pending_charges")
    [difference] = run(memory_db, catalog).differences
    assert difference.kind == "threshold_not_invoiced"
    assert difference.money_at_stake == sum(line["amount"] for line in threshold) > 15000


def test_unpaid_invoice_dead_letter_late_change_and_drift(memory_db, catalog):
    sub = account(memory_db, catalog)
    invoice = lines_of(memory_db, sub)[0]["invoice"]
    memory_db.execute("UPDATE mirror_invoices SET status = 'open', amount_due = 3250 WHERE id = ?", [invoice])
    store.record_late_change(memory_db, "acme", sub, kind="across_period", instant_us=(MAY_1 - 60) * US, delta=1,
                             now_us=(MAY_1 + 60) * US)
    assert sorted(kinds(run(memory_db, catalog))) == ["invoice_unpaid", "late_change"]
    memory_db.execute("UPDATE mirror_subscription_items SET quantity = 9")
    [drift] = [d for d in run(memory_db, catalog).differences if d.kind == "seat_drift"]
    assert (drift.expected_quantity, drift.actual_quantity, drift.money_at_stake) == (4, 9, 2500)
    store.dead_letter_read(memory_db, "acme", sub, operation="update_quantity", code="resource_invalid", status=400,
                           reason="refused", request_id="req_1", now_us=NOW * US)
    # A dead letter explains the drift: reported once, as never synced.
    assert sorted(kinds(run(memory_db, catalog))) == ["invoice_unpaid", "late_change", "never_synced"]


def test_a_sync_in_flight_is_not_drift(memory_db, catalog):
    account(memory_db, catalog)
    memory_db.execute("UPDATE mirror_subscription_items SET quantity = 9")
    memory_db.execute("UPDATE sync_state SET ledger_version = 2")
    assert kinds(run(memory_db, catalog)) == []


def test_fix_only_makes_drifted_accounts_due(memory_db, catalog):
    account(memory_db, catalog)
    account(memory_db, catalog, name="calm")
    memory_db.execute("UPDATE mirror_subscription_items SET quantity = 9 WHERE subscription = 'sub_acme'")
    invoices_before = list(memory_db.query("SELECT * FROM mirror_invoices ORDER BY id"))
    report = run(memory_db, catalog)
    assert reconcile.fix(memory_db, report, now_us=NOW * US) == ["acme"]
    state = store.sync_state(memory_db, "acme")
    assert state["synced_version"] == 0 and state["dirty_since_us"] == NOW * US
    assert store.sync_state(memory_db, "calm")["synced_version"] == 1
    assert list(memory_db.query("SELECT * FROM mirror_invoices ORDER BY id")) == invoices_before


def test_bad_windows_and_unknown_accounts_are_errors(memory_db, catalog):
    with pytest.raises(reconcile.ReconcileError, match="empty"):
        reconcile.reconcile(memory_db, catalog, since_us=10, until_us=10)
    with pytest.raises(reconcile.ReconcileError, match="unknown account"):
        run(memory_db, catalog, account="nobody")


@pytest.fixture
def cli_env(tmp_path, monkeypatch, catalog):
    db = store.open_db(tmp_path / "seatsync.db")
    sub = account(db, catalog)
    monkeypatch.setenv("SEATSYNC_DATABASE", str(tmp_path / "seatsync.db"))
    monkeypatch.setenv("SEATSYNC_MAPPINGS", str(REPO_MAPPINGS))
    yield db, sub
    db.close()


def invoke(*args):
    return CliRunner().invoke(cli, ["reconcile", "--since", iso(APRIL_1), "--until", iso(MAY_1 + 86400), *args])


def test_cli_exit_codes_and_formats(cli_env):
    db, sub = cli_env
    clean = invoke()
    assert clean.exit_code == 0, clean.output
    assert "found    0 differences" in clean.output
    db.execute("UPDATE mirror_invoice_lines SET amount = amount + 50 WHERE id = ?", [lines_of(db, sub)[0]["id"]])
    table = invoke()
    assert table.exit_code == 1 and "wrong_amount" in table.output and "0.50 USD at stake" in table.output
    as_json = json.loads(invoke("--format", "json").output)
    assert as_json["summary"]["by_kind"] == {"wrong_amount": 1}
    as_csv = invoke("--format", "csv").output.splitlines()
    assert as_csv[0].split(",")[:3] == ["account", "kind", "money_at_stake"] and len(as_csv) == 2
    assert invoke("--account", "acme", "--tolerance", "50").exit_code == 0
    assert invoke("--account", "nobody").exit_code == 2
    assert CliRunner().invoke(cli, ["reconcile", "--period", "2026-13"]).exit_code == 2
    assert CliRunner().invoke(cli, ["reconcile", "--period", "2026-04", "--since", iso(APRIL_1)]).exit_code == 2
    april = CliRunner().invoke(cli, ["reconcile", "--period", "2026-04", "--format", "json"])
    # April's window holds the April 16 change but not the May 1 invoice that bills it.
    assert json.loads(april.output)["summary"]["lines"] == 0


def test_a_renewal_still_on_the_price_before_an_announced_change_is_flagged(memory_db, tmp_path):
    """Issue 19: the engine bills a period at the price in force on its first day; a subscription the
    provider still bills at the old price after the change is named as such, with the money at stake."""
    import shutil

    shutil.copytree(REPO_MAPPINGS, tmp_path / "mappings")
    path = tmp_path / "mappings" / "standard_premium.toml"
    path.write_text(path.read_text().replace(
        'seat = { price_id = "price_standard_seat_monthly", unit_amount = 500 }',
        'seat = { price_id = "price_standard_seat_monthly", unit_amount = 500, price_changes = ['
        '{ effective_from = 2026-05-01, unit_amount = 550, price_id = "price_standard_seat_monthly_2026" }] }', 1))
    changed = load_catalog(tmp_path / "mappings")
    sub = account(memory_db, changed)
    assert run(memory_db, changed).clean
    renewal = next(line for line in lines_of(memory_db, sub)
                   if line["price"] == "price_standard_seat_monthly_2026" and not line["proration"])
    assert (renewal["quantity"], renewal["amount"]) == (4, 4 * 550)
    memory_db.execute("UPDATE mirror_invoice_lines SET price = 'price_standard_seat_monthly', amount = 2000 "
                      "WHERE id = ?", [renewal["id"]])
    [difference] = run(memory_db, changed).differences
    assert (difference.kind, difference.money_at_stake) == ("price_change_not_applied", 200)
    assert "still on the old price" in difference.detail
